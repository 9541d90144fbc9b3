"""Mutation fuzzing of the 1C endpoint (issue 13): damaged uploads get a `failure` line, never a 500.

Real catalog files from the fixtures, sent as 1C sends them (plain or zipped, in `file_limit` chunks),
are truncated, flipped and re-encoded; the whole run then goes `checkauth`, `init`, `file`…, `import`
until done. Every answer must be HTTP 200 with `success`, `progress` or `failure`, and a failed run must
leave nothing on disk.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import zipfile
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_parsers import FIXTURES, mutated

from obmen.connectors.onec.backend import onec_endpoint
from obmen.store.database import Database

AUTH = ("1c", "fuzz-password")
URL = "/exchange/1c"
SMALL = FIXTURES / "ut11-small-2.07"
ORIGINALS = [(SMALL / name).read_bytes() for name in ("import0_1.xml", "offers0_1.xml")]
CHUNK = 64 * 1024


def _zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("import0_1.xml", data)
    return buffer.getvalue()


ZIPPED = [_zipped(data) for data in ORIGINALS]


async def _run(http: httpx.AsyncClient, data: bytes, name: str) -> list[str]:
    answers: list[str] = []

    async def call(method: str, mode: str, content: bytes | None = None, **params: str) -> str:
        reply = await http.request(
            method, URL, params={"type": "catalog", "mode": mode, **params}, content=content
        )
        assert reply.status_code == 200, reply.text
        text = reply.content.decode("cp1251")
        assert text.split("\n")[0] in ("success", "progress", "failure", "zip=yes"), text
        answers.append(text.split("\n")[0])
        return text

    first = (await call("GET", "checkauth")).split("\n")
    http.cookies.set(first[1], first[2])
    await call("GET", "init")
    for start in range(0, max(len(data), 1), CHUNK):
        if (await call("POST", "file", data[start : start + CHUNK], filename=name)).startswith("failure"):
            return answers
    for _ in range(200):
        text = await call("GET", "import", filename="import0_1.xml")
        if text.startswith("failure"):
            return answers
        if not text.startswith("progress"):
            await call("GET", "complete")  # as 1C ends a run that went well
            return answers
        await asyncio.sleep(0.005)
    raise AssertionError("the import never finished")


def test_damaged_uploads_get_a_failure_line(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "obmen.db"
    shutil.copy(sqlite_template, path)
    loop = asyncio.new_event_loop()
    db = Database.connect(f"sqlite:///{path}")
    endpoint = onec_endpoint(db, login=AUTH[0], password=AUTH[1], workdir=tmp_path / "exchange")
    transport = httpx.ASGITransport(
        __import__("starlette.applications").applications.Starlette(routes=endpoint.routes())
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            mutated(ORIGINALS).map(lambda d: (d, "import0_1.xml")),
            mutated(ZIPPED).map(lambda d: (d, "v8.zip")),
        )
    )
    def example(upload: tuple[bytes, str]) -> None:
        async def go() -> None:
            async with httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH) as http:
                answers = await _run(http, *upload)
            assert endpoint.runs == {}  # completed, or ended by its failure
            if answers[-1] == "failure":
                leftovers = [p for p in endpoint.spool.root.rglob("*") if p.name != ".lock"]
                assert leftovers == []

        loop.run_until_complete(go())

    try:
        example()
    finally:
        endpoint.close()
        loop.run_until_complete(db.close())
        loop.close()
