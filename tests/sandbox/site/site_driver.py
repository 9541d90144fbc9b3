"""A small 1C stand-in that drives the site sandbox exactly as 1C's «Обмен с сайтом» does."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx

from obmen_sandbox.site import EXCHANGE_PATH

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml"
SMALL = FIXTURES / "ut11-small-2.07"
LOGIN, PASSWORD = "exchange", "s3cret"


def zipped(files: dict[str, bytes]) -> bytes:
    """A zip archive as 1C builds it for `zip=yes`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def text(response: httpx.Response) -> str:
    """A reply decoded as 1C does: windows-1251."""
    return response.content.decode("cp1251")


class OneC:
    """Basic on every request, the cookie and `sessid` from checkauth, chunks at `file_limit`."""

    def __init__(self, client: httpx.AsyncClient, login: str = LOGIN, password: str = PASSWORD) -> None:
        self.client = client
        self.auth = httpx.BasicAuth(login, password)
        self.cookie: str | None = None
        self.sessid: str | None = None
        self.timestamp: int | None = None
        self.file_limit = 0

    async def call(
        self, type_: str, mode: str, content: bytes | None = None, **params: str
    ) -> httpx.Response:
        query = {"type": type_, "mode": mode, **params}
        if self.sessid and mode != "checkauth":
            query["sessid"] = self.sessid
        headers = {"User-Agent": "1C+Enterprise/8.3"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        method = "POST" if content is not None else "GET"
        response = await self.client.request(
            method, EXCHANGE_PATH, params=query, content=content, headers=headers, auth=self.auth
        )
        self.client.cookies.clear()  # 1C keeps only what checkauth printed
        return response

    async def checkauth(self, type_: str) -> list[str]:
        lines = text(await self.call(type_, "checkauth")).split("\n")
        if lines[0] == "success":
            self.cookie = f"{lines[1]}={lines[2]}"
            self.sessid = lines[3].partition("=")[2]
            if len(lines) > 4:
                self.timestamp = int(lines[4].partition("=")[2])
        return lines

    async def init(self, type_: str, **params: str) -> list[str]:
        lines = text(await self.call(type_, "init", **params)).split("\n")
        self.file_limit = int(lines[1].partition("=")[2])
        return lines

    async def upload(self, type_: str, filename: str, data: bytes) -> list[str]:
        replies = []
        for start in range(0, len(data), self.file_limit):
            response = await self.call(
                type_, "file", data[start : start + self.file_limit], filename=filename
            )
            replies.append(text(response))
        return replies

    async def run_import(self, type_: str, filename: str, limit: int = 500) -> list[str]:
        replies = []
        for _ in range(limit):
            reply = text(await self.call(type_, "import", filename=filename))
            replies.append(reply)
            if not reply.startswith("progress"):
                return replies
        raise AssertionError(f"import of {filename} never finished")

    async def catalog_run(self, files: dict[str, bytes], use_zip: bool = True) -> list[str]:
        """checkauth, init, upload (zipped or one by one), import each file; returns every import reply."""
        assert (await self.checkauth("catalog"))[0] == "success"
        await self.init("catalog")
        if use_zip:
            assert set(await self.upload("catalog", "v8_1A76_1.zip", zipped(files))) == {"success"}
        replies = []
        for name, data in files.items():
            if not use_zip:
                assert set(await self.upload("catalog", name, data)) == {"success"}
            replies += await self.run_import("catalog", name)
        return replies


def small_catalog() -> dict[str, bytes]:
    """The real UT 11 run: 36 products, 44 offers, 1 price type, 3 warehouses."""
    return {name: (SMALL / name).read_bytes() for name in ("import0_1.xml", "offers0_1.xml")}
