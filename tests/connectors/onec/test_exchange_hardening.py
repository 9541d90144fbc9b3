"""The 1C endpoint under attack and failure (issue 13, rows 3, 4, 6 and 7).

Guessing is slowed per client address and login, never a lock-out; `X-Forwarded-For` counts only from a
trusted proxy; a `file` call is capped at `file_limit` while it streams; every failure is a `failure`
line and ends its run, whose folder goes with it; the spool has a quota; files are private.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from test_exchange_endpoint import (
    AUTH,
    URL,
    Backend,
    Waits,
    call,
    files_under,
    import_until_done,
    login,
    upload,
)

from obmen.connectors.onec.server import ExchangeEndpoint
from obmen.connectors.onec.spool import Spool
from obmen.connectors.onec.throttle import Guesses, TrustedProxies
from obmen.connectors.onec.uploads import Limits

LIMITS = Limits(file_limit=1000, run_bytes=50_000, members=5, unpacked_bytes=100_000, ratio=50)


def _endpoint(tmp_path: Path, waits: Waits, limits: Limits = LIMITS) -> ExchangeEndpoint:
    return ExchangeEndpoint(
        Backend(),
        login=AUTH[0],
        password=AUTH[1],
        workdir=tmp_path / "runs",
        limits=limits,
        guesses=Guesses(sleep=waits.sleep),
        trusted_proxies=TrustedProxies(["10.0.0.0/8"]),
    )


def _client(endpoint: ExchangeEndpoint, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    app = Starlette(routes=endpoint.routes())
    transport = httpx.ASGITransport(app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://obmen", auth=AUTH)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def endpoint(tmp_path: Path, waits: Waits) -> ExchangeEndpoint:
    return _endpoint(tmp_path, waits)


@pytest.fixture
async def client(endpoint: ExchangeEndpoint) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(endpoint) as http:
        yield http


async def _wrong(http: httpx.AsyncClient, login_name: str = "exchange", via: str | None = None) -> str:
    headers = {"x-forwarded-for": via} if via else {}
    params = {"type": "catalog", "mode": "checkauth"}
    reply = await http.get(URL, params=params, auth=(login_name, "nope"), headers=headers)
    return reply.content.decode("cp1251").split("\n")[0]


# -- row 3: guesses -----------------------------------------------------------------------------------


async def test_five_wrong_passwords_do_not_lock_the_right_one_out(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert await _wrong(client) == "failure"
    assert (await login(client))[0] == "success"


async def test_guesses_count_per_address_and_login(endpoint: ExchangeEndpoint, waits: Waits) -> None:
    async with _client(endpoint, "192.0.2.1") as one, _client(endpoint, "192.0.2.2") as two:
        for _ in range(3):
            await _wrong(one)
        await _wrong(two)  # another address
        await _wrong(one, "someone-else")  # another login
    assert waits.waited == [0.5, 1.0, 2.0, 0.5, 0.5]


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    endpoint: ExchangeEndpoint, waits: Waits
) -> None:
    async with _client(endpoint, "10.0.0.5") as proxy, _client(endpoint, "192.0.2.9") as stranger:
        for _ in range(3):
            await _wrong(proxy, via="203.0.113.1")
        await _wrong(proxy, via="203.0.113.2")  # another client behind the same proxy: its own count
        # A client that is not a proxy cannot borrow (or frame) someone else's address.
        await _wrong(stranger, via="203.0.113.2")
        # Hops our proxies appended are skipped; a spoofed left part is not believed.
        await _wrong(proxy, via="198.51.100.7, 203.0.113.1, 10.0.0.6")
    assert waits.waited == [0.5, 1.0, 2.0, 0.5, 0.5, 4.0]


async def test_wrong_guesses_of_one_pair_are_answered_one_at_a_time(endpoint: ExchangeEndpoint) -> None:
    import asyncio

    running = 0
    most = 0

    async def slow(seconds: float) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    endpoint.guesses.sleep = slow
    async with _client(endpoint) as http:
        await asyncio.gather(*(_wrong(http) for _ in range(5)))
    assert most == 1


# -- row 4: file_limit while streaming ----------------------------------------------------------------


class Counted:
    """A chunked body of `total` bytes that counts what the server actually read."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total = total
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"x" * self.chunk


async def test_a_file_call_over_file_limit_fails_while_streaming(client: httpx.AsyncClient) -> None:
    await login(client)
    assert (await upload(client, "import.xml", b"x" * 1001))[0] == "failure"
    await login(client)
    body = Counted(300 * 1024 * 1024, chunk=512)  # 300 MB, chunked: no Content-Length to judge by
    params = {"type": "catalog", "mode": "file", "filename": "import.xml"}
    reply = await client.post(URL, params=params, content=body)
    assert reply.content.decode("cp1251").startswith("failure\n")
    assert "file_limit" in reply.content.decode("cp1251")
    assert body.sent <= 1000 + 2 * 512  # stopped at the chunk that passed the limit


# -- row 6: every failure is a failure line, and its run is cleaned up --------------------------------


def _zip(name: str = "import.xml", data: bytes = b"<x/>" * 50) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buffer.getvalue()


def _corrupt_deflate() -> bytes:
    data = bytearray(_zip(data=bytes(range(256)) * 3))
    header = 30 + len("import.xml")
    for i in range(header, header + 40):
        data[i] ^= 0x5A
    return bytes(data)


def _unsupported_method() -> bytes:
    data = bytearray(_zip())
    struct.pack_into("<H", data, 8, 9)  # local header: Deflate64, which Python cannot read
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 10, 9)
    return bytes(data)


async def _upload_all(http: httpx.AsyncClient, name: str, data: bytes) -> None:
    for start in range(0, len(data), 1000):
        assert await upload(http, name, data[start : start + 1000]) == ["success"]


@pytest.mark.parametrize(
    ("archive", "reason"),
    [(_corrupt_deflate(), "damaged zip archive"), (_unsupported_method(), "damaged zip archive")],
    ids=["corrupt-deflate", "unsupported-method"],
)
async def test_a_damaged_archive_is_a_failure_line_and_leaves_nothing(
    client: httpx.AsyncClient, endpoint: ExchangeEndpoint, tmp_path: Path, archive: bytes, reason: str
) -> None:
    await login(client)
    await _upload_all(client, "v8.zip", archive)
    reply = await client.get(URL, params={"type": "catalog", "mode": "import", "filename": "import.xml"})
    assert reply.status_code == 200
    lines = reply.content.decode("cp1251").split("\n")
    assert lines[0] == "failure"
    assert reason in lines[1]
    assert files_under(tmp_path) == set()
    assert endpoint.runs == {}  # the run ended with its failure


async def test_a_300_character_file_name_is_a_failure_line(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await login(client)
    reply = await client.post(
        URL, params={"type": "catalog", "mode": "file", "filename": "я" * 300 + ".xml"}, content=b"<x/>"
    )
    assert reply.status_code == 200
    assert reply.content.decode("cp1251").split("\n")[0] == "failure"
    assert files_under(tmp_path) == set()


async def test_an_archive_member_with_a_300_character_name_is_a_failure_line(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await login(client)
    await _upload_all(client, "v8.zip", _zip(name="a" * 300 + ".xml"))
    answer = await call(client, "import", filename="import.xml")
    assert answer[0] == "failure"
    assert "too long" in answer[1]
    assert files_under(tmp_path) == set()


async def test_an_unexpected_error_is_a_failure_line(
    client: httpx.AsyncClient, endpoint: ExchangeEndpoint
) -> None:
    async def broken(*_: object) -> str:
        raise KeyError("boom")

    endpoint.backend.import_file = broken  # type: ignore[method-assign]
    await login(client)
    assert await upload(client, "import.xml", b"<x/>") == ["success"]
    answers = await import_until_done(client, "import.xml")
    assert answers[-1][0] == "failure"
    assert "internal error" in answers[-1][1]
    assert endpoint.runs == {}


async def test_run_folders_go_after_complete(client: httpx.AsyncClient, endpoint: ExchangeEndpoint) -> None:
    await login(client)
    assert await upload(client, "import.xml", b"<x/>") == ["success"]
    [run] = endpoint.runs.values()
    assert run.directory.is_dir()
    assert (await call(client, "complete"))[0] == "success"
    assert not run.directory.exists()


def test_folders_of_stopped_processes_are_removed_at_start_up(tmp_path: Path, waits: Waits) -> None:
    workdir = tmp_path / "runs"
    alive = Spool(workdir)  # a sibling process that is still running
    (alive.make("live-run") / "import.xml").write_bytes(b"<x/>")
    dead = workdir / "p-deadbeef"
    (dead / "run").mkdir(parents=True)
    (dead / ".lock").write_text("")  # nobody holds it: its process is gone
    (dead / "run" / "import.xml").write_bytes(b"x" * 1000)
    loose = workdir / "0123abcd"  # a run folder of the layout before spools
    loose.mkdir()
    os.utime(loose, (0, 0))
    endpoint = _endpoint(tmp_path, waits)
    assert not dead.exists()
    assert not loose.exists()
    assert (alive.root / "live-run" / "import.xml").exists()
    endpoint.close()
    assert not endpoint.spool.root.exists()
    alive.close()


async def test_the_spool_quota_holds_for_all_runs_together(tmp_path: Path, waits: Waits) -> None:
    endpoint = _endpoint(tmp_path, waits, Limits(file_limit=1000, spool_bytes=2500))
    async with _client(endpoint) as first, _client(endpoint) as second:
        await login(first)
        await login(second)
        assert await upload(first, "a.xml", b"x" * 1000) == ["success"]
        assert await upload(second, "b.xml", b"x" * 1000) == ["success"]
        answer = await upload(second, "c.xml", b"x" * 1000)
    assert answer[0] == "failure"
    assert "spool full" in answer[1]


async def test_a_huge_posted_form_is_refused_while_streaming(client: httpx.AsyncClient) -> None:
    body = Counted(300 * 1024 * 1024)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    reply = await client.post(URL, params={"type": "sale"}, content=body, headers=headers)
    assert reply.content.decode("cp1251").startswith("failure\n")
    assert body.sent <= 64 * 1024 + 2 * body.chunk


# -- row 7: private files -----------------------------------------------------------------------------


async def test_uploads_are_private(
    client: httpx.AsyncClient, endpoint: ExchangeEndpoint, tmp_path: Path
) -> None:
    await login(client)
    assert await upload(client, "sub/import.xml", b"<x/>") == ["success"]
    await _upload_all(client, "v8.zip", _zip(name="deep/offers.xml"))
    assert (await call(client, "import", filename="offers.xml"))[0] == "progress"  # unpacked
    [run] = endpoint.runs.values()
    folders = [
        tmp_path / "runs",
        endpoint.spool.root,
        run.directory,
        run.directory / "sub",
        run.directory / "deep",
    ]
    assert {oct(p.stat().st_mode & 0o777) for p in folders} == {"0o700"}
    files = [run.directory / "sub" / "import.xml", run.directory / "deep" / "offers.xml"]
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o600"}
