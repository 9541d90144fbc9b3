"""A recording exchange server written here from docs/protocols/commerceml.md §1, for the sandbox 1C's tests.

It is honest about the protocol (5-line checkauth, 2-line catalog init that cleans the work directory,
4-line sale init when 1C passes `version`, appended `file` chunks, unzip on the first `import` answering
`progress`) and records every request so the tests can assert the exact sequence and what each carried.
"""

from __future__ import annotations

import base64
import io
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from obmen_sandbox.onec import OnecSandbox

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml"
TARGET = "http://site.test/bitrix/admin/1c_exchange.php"
LOGIN, PASSWORD = "exchange", "s3cret-пароль"


@dataclass
class Call:
    method: str
    kind: str
    mode: str
    params: dict[str, str]
    basic_ok: bool
    cookie_ok: bool
    sessid_ok: bool
    body: bytes


@dataclass
class Site:
    """State and knobs of the recording exchange server."""

    zip: bool = False
    checkauth_lines: int = 5
    file_limit: int = 1_000_000
    progress_steps: int = 0
    endless_progress: bool = False
    sale_version: bool = True
    query_answer: bytes = b""
    query_type: str = "application/xml; charset=windows-1251"
    fail: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    files: dict[str, bytearray] = field(default_factory=dict)
    archives: list[str] = field(default_factory=list)
    unpacked: bool = True
    progress_left: dict[str, int] = field(default_factory=dict)
    cookie: str = ""
    sessid: str = ""
    timestamp: str = "1700000000"

    def modes(self) -> list[str]:
        return [call.mode for call in self.calls]

    def after_auth(self) -> list[Call]:
        return [call for call in self.calls if call.mode != "checkauth"]


def _text(body: str) -> Response:
    # §1.9: Bitrix answers windows-1251 text.
    return Response(body.encode("windows-1251"), media_type="text/html; charset=windows-1251")


def recording_server(site: Site) -> Starlette:
    """A function-level Bitrix-like exchange endpoint (docs/protocols/commerceml.md §1.2-§1.7)."""
    expected = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()

    async def endpoint(request: Request) -> Response:
        params = dict(request.query_params)
        mode, kind = params.get("mode", ""), params.get("type", "")
        body = await request.body()
        call = Call(
            request.method,
            kind,
            mode,
            params,
            request.headers.get("authorization") == expected,
            bool(site.cookie) and request.cookies.get("EXCH") == site.cookie,
            params.get("sessid") == site.sessid if site.sessid else "sessid" not in params,
            body,
        )
        site.calls.append(call)
        if mode in site.fail:
            return _text(f"failure\n{site.fail[mode]}")
        if mode == "checkauth":
            if not call.basic_ok:
                return _text("failure\nОшибка авторизации. Неверное имя пользователя или пароль.")
            site.cookie, site.sessid = secrets.token_hex(8), secrets.token_hex(8)
            lines = ["success", "EXCH", site.cookie, f"sessid={site.sessid}"]
            if kind == "catalog":
                lines.append(f"timestamp={site.timestamp}")
            if site.checkauth_lines == 3:
                # §1.2: older/simple servers answer only `success`, cookie name and value.
                site.sessid, lines = "", lines[:3]
            return _text("\n".join(lines) + "\n")
        if not (call.basic_ok and call.cookie_ok and call.sessid_ok):
            return _text("failure\nОшибка проверки источника запроса.")
        return handle(site, call)

    return Starlette(routes=[Route("/bitrix/admin/1c_exchange.php", endpoint, methods=["GET", "POST"])])


def handle(site: Site, call: Call) -> Response:
    mode, name = call.mode, call.params.get("filename", "")
    if mode == "init":
        site.files.clear()  # §1.3: catalog init cleans the work directory
        lines = [f"zip={'yes' if site.zip else 'no'}", f"file_limit={site.file_limit}"]
        if call.kind == "sale" and site.sale_version and "version" in call.params:
            lines += [f"sessid={site.sessid}", "version=2.09"]
        return _text("\n".join(lines) + "\n")
    if mode == "file":
        if len(call.body) > site.file_limit:
            return _text("failure\nchunk larger than file_limit")
        site.files.setdefault(name, bytearray()).extend(call.body)
        if name.endswith(".zip"):
            site.archives.append(name)
            site.unpacked = False
        return _text("success\n")
    if mode == "import":
        return import_step(site, name)
    if mode == "query":
        return Response(site.query_answer, media_type=site.query_type)
    return _text("success\n")


def import_step(site: Site, name: str) -> Response:
    if not site.unpacked:
        # §1.4: the first import after a zip upload unpacks it and answers progress.
        with zipfile.ZipFile(io.BytesIO(bytes(site.files[site.archives[-1]]))) as archive:
            for member in archive.namelist():
                site.files[member] = bytearray(archive.read(member))
        site.unpacked = True
        return _text("progress\nРаспаковка архива завершена.")
    if name not in site.files:
        return _text(f"failure\nФайл {name} не найден")
    left = site.progress_left.setdefault(name, site.progress_steps)
    if site.endless_progress or left > 0:
        site.progress_left[name] = left - 1
        return _text("progress\nОбработано 1 из 2 элементов.")
    return _text("success\nИмпорт успешно завершен.")


def sandbox_for(site: Site, fixture: Path | None = None, **options: Any) -> OnecSandbox:
    transport = httpx.ASGITransport(app=recording_server(site))
    return OnecSandbox(TARGET, LOGIN, PASSWORD, fixture, transport=transport, **options)


def control(sandbox: OnecSandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url="http://onec.test")


def local_count(data: bytes, name: str) -> int:
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    return sum(
        1 for element in root.iter() if isinstance(element.tag, str) and element.tag.endswith("}" + name)
    )


def assert_every_call_authenticated(site: Site) -> None:
    assert site.calls[0].mode == "checkauth"
    assert site.calls[0].basic_ok
    for call in site.after_auth():
        assert (call.mode, call.basic_ok, call.cookie_ok, call.sessid_ok) == (call.mode, True, True, True)
