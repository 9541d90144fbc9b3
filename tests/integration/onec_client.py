"""A 1C exchange client for tests: what 1C does, call by call (docs/protocols/commerceml.md §1)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Mapping

import httpx

URL = "/bitrix/admin/1c_exchange.php"


class OneC:
    """Plays 1C against an exchange endpoint: Basic on every call, the cookie and `sessid`."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.cookie: tuple[str, str] = ("", "")
        self.sessid = ""
        self.timestamp = ""
        self.file_limit = 0
        self.steps: list[str] = []

    async def call(self, kind: str, mode: str, content: bytes | None = None, **params: str) -> httpx.Response:
        query = {"type": kind, "mode": mode, **params}
        if self.sessid:
            query["sessid"] = self.sessid
        headers = {"Cookie": f"{self.cookie[0]}={self.cookie[1]}"} if self.cookie[0] else {}
        if content is None:
            return await self.http.get(URL, params=query, headers=headers)
        return await self.http.post(URL, params=query, headers=headers, content=content)

    async def text(self, kind: str, mode: str, content: bytes | None = None, **params: str) -> str:
        return (await self.call(kind, mode, content, **params)).content.decode("cp1251")

    async def start(self, kind: str) -> None:
        self.cookie, self.sessid = ("", ""), ""
        lines = (await self.text(kind, "checkauth")).split("\n")
        assert lines[0] == "success", lines
        self.cookie = (lines[1], lines[2])
        self.sessid = lines[3].partition("=")[2]
        self.timestamp = lines[4].partition("=")[2] if kind == "catalog" else ""
        extra = {"version": "2.09"} if kind == "sale" else {}
        init = dict(line.split("=", 1) for line in (await self.text(kind, "init", **extra)).split("\n"))
        self.file_limit = int(init["file_limit"])

    async def upload(self, kind: str, name: str, data: bytes, chunk: int | None = None) -> None:
        size = chunk or self.file_limit
        for start in range(0, max(len(data), 1), size):
            reply = await self.text(kind, "file", data[start : start + size], filename=name)
            assert reply.startswith("success"), reply

    async def import_(self, kind: str, name: str) -> str:
        """`import` repeated while `progress`; returns the final reply (success or failure)."""
        for _ in range(10_000):
            reply = await self.text(kind, "import", filename=name)
            if not reply.startswith("progress"):
                return reply
            self.steps.append(reply)
            # Over a real socket every call yields to the server's loop; in-process ASGI never does, so
            # the background import would starve without this pause (a network round trip's worth).
            await asyncio.sleep(0.002)
        raise AssertionError("endless progress")

    async def catalog(
        self, files: Mapping[str, bytes], *, zipped: bool, chunk: int | None = None, deactivate: bool = True
    ) -> list[str]:
        """A whole catalog run; returns the `import` replies (and `deactivate`'s) in order."""
        await self.start("catalog")
        if zipped:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in files.items():
                    archive.writestr(name, data)
            await self.upload("catalog", "v8_1A76_1.zip", buffer.getvalue(), chunk)
        else:
            for name, data in files.items():
                await self.upload("catalog", name, data, chunk)
        replies = [await self.import_("catalog", name) for name in files]
        if deactivate and all(r.startswith("success") for r in replies):
            replies.append(await self.text("catalog", "deactivate", timestamp=self.timestamp))
        await self.text("catalog", "complete")
        return replies

    async def query(self) -> bytes:
        await self.start("sale")
        response = await self.call("sale", "query")
        assert response.status_code == 200
        return response.content

    async def success(self) -> str:
        return await self.text("sale", "success")

    async def documents(self, data: bytes, name: str = "documents___1.xml") -> str:
        await self.start("sale")
        await self.upload("sale", name, data)
        return await self.import_("sale", name)
