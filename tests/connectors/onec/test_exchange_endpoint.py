"""The 1C exchange endpoint's protocol and its defences (docs/protocols/commerceml.md §1, §6)."""

from __future__ import annotations

import asyncio
import io
import stat
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from obmen.connectors.onec.server import COOKIE, ExchangeEndpoint, Run
from obmen.connectors.onec.throttle import Guesses, TrustedProxies
from obmen.connectors.onec.uploads import Limits
from obmen.errors import ProtocolError

AUTH = ("exchange", "s3cret")


class Backend:
    """Records what the endpoint hands over; `gate` holds imports to observe `progress`."""

    def __init__(self) -> None:
        self.imported: list[tuple[str, bytes]] = []
        self.acknowledged: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def import_file(self, run: Run, path: Path) -> str:
        await self.gate.wait()
        data = await asyncio.to_thread(path.read_bytes)
        if b"<broken" in data:
            raise ProtocolError(f"{path.name}: XML is not well-formed")
        self.imported.append((path.relative_to(run.directory).as_posix(), data))
        return f"{path.name}: 1 objects"

    async def deactivate(self, run: Run) -> str:
        return "deactivated 0"

    async def query(self, run: Run) -> bytes:
        return '<?xml version="1.0" encoding="windows-1251"?><КоммерческаяИнформация/>'.encode("cp1251")

    async def acknowledge(self, run: Run) -> None:
        self.acknowledged.append(run.id)

    async def import_documents(self, run: Run, path: Path) -> str:
        return await self.import_file(run, path)


@pytest.fixture
def backend() -> Backend:
    return Backend()


class Waits:
    """The throttle's sleeps, recorded instead of slept."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waited.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def endpoint(backend: Backend, tmp_path: Path, waits: Waits) -> ExchangeEndpoint:
    limits = Limits(file_limit=1000, run_bytes=50_000, members=5, unpacked_bytes=100_000, ratio=50)
    return ExchangeEndpoint(
        backend,
        login=AUTH[0],
        password=AUTH[1],
        workdir=tmp_path / "runs",
        limits=limits,
        guesses=Guesses(sleep=waits.sleep),
        trusted_proxies=TrustedProxies(["10.0.0.0/8"]),
    )


@pytest.fixture
async def client(endpoint: ExchangeEndpoint) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=endpoint.routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://obmen", auth=AUTH
    ) as client:
        yield client


URL = "/bitrix/admin/1c_exchange.php"


def files_under(root: Path) -> set[str]:
    """The files 1C's uploads left (the spool's own lock file aside)."""
    return {p.name for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


async def login(client: httpx.AsyncClient, kind: str = "catalog") -> list[str]:
    reply = await client.get(URL, params={"type": kind, "mode": "checkauth"})
    lines = reply.content.decode("cp1251").split("\n")
    assert lines[0] == "success", lines
    client.cookies.set(lines[1], lines[2])
    return lines


async def call(client: httpx.AsyncClient, mode: str, kind: str = "catalog", **params: str) -> list[str]:
    reply = await client.get(URL, params={"type": kind, "mode": mode, **params})
    return reply.content.decode("cp1251").split("\n")


async def upload(client: httpx.AsyncClient, filename: str, data: bytes, kind: str = "catalog") -> list[str]:
    reply = await client.post(URL, params={"type": kind, "mode": "file", "filename": filename}, content=data)
    return reply.content.decode("cp1251").split("\n")


async def import_until_done(
    client: httpx.AsyncClient, filename: str, kind: str = "catalog"
) -> list[list[str]]:
    answers = []
    for _ in range(50):
        answer = await call(client, "import", kind, filename=filename)
        answers.append(answer)
        if answer[0] != "progress":
            return answers
        await asyncio.sleep(0.01)
    raise AssertionError("import never finished")


async def test_catalog_run_transcript(client: httpx.AsyncClient, backend: Backend) -> None:
    lines = await login(client)
    assert lines[1] == COOKIE
    assert lines[3].startswith("sessid=")
    assert lines[4].startswith("timestamp=")
    assert await call(client, "init") == ["zip=yes", "file_limit=1000"]
    assert await upload(client, "import0_1.xml", b"<a>one ") == ["success"]
    assert await upload(client, "import0_1.xml", b"two</a>") == ["success"]  # chunks are appended
    backend.gate.clear()
    assert (await call(client, "import", filename="import0_1.xml"))[0] == "progress"
    backend.gate.set()
    answers = await import_until_done(client, "import0_1.xml")
    assert answers[-1][0] == "success"
    assert backend.imported == [("import0_1.xml", b"<a>one two</a>")]
    assert (await call(client, "deactivate", timestamp=lines[4].split("=")[1]))[0] == "success"
    assert (await call(client, "complete"))[0] == "success"


async def test_sale_run_transcript(client: httpx.AsyncClient, backend: Backend) -> None:
    lines = await login(client, "sale")
    assert len(lines) == 4
    assert await call(client, "init", "sale", version="3.1", sessid=lines[3][7:]) == [
        "zip=yes",
        "file_limit=1000",
        lines[3],
        "version=2.09",
    ]
    reply = await client.get(URL, params={"type": "sale", "mode": "query"})
    assert reply.headers["content-type"].startswith("application/xml")
    assert "КоммерческаяИнформация" in reply.content.decode("cp1251")
    assert await call(client, "success", "sale") == ["success"]
    assert len(backend.acknowledged) == 1
    assert await upload(client, "documents___1.xml", b"<doc/>", "sale") == ["success"]
    assert (await import_until_done(client, "documents___1.xml", "sale"))[-1][0] == "success"


async def test_a_zip_is_unpacked_on_the_first_import(client: httpx.AsyncClient, backend: Backend) -> None:
    await login(client)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("import0_1.xml", "<import/>")
        zf.writestr("import_files/1b/pic.jpg", b"\xff\xd8")
    data = buffer.getvalue()
    for start in range(0, len(data), 100):  # chunked at file_limit-ish pieces
        assert await upload(client, "v8_1A76_1.zip", data[start : start + 100]) == ["success"]
    assert (await call(client, "import", filename="import0_1.xml"))[0] == "progress"
    assert (await import_until_done(client, "import0_1.xml"))[-1][0] == "success"
    assert backend.imported == [("import0_1.xml", b"<import/>")]


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (_zip({"../../evil.xml": b"x"}), "unsafe filename"),
        (_zip({"/etc/cron.d/evil": b"x"}), "unsafe filename"),
        (_zip({"bomb.xml": b"\0" * 5_000_000}), "zip bomb"),
        (_zip({"a.xml": b"1" * 60_000, "b.xml": b"2" * 60_000}), "unpacks to more than"),
        (_zip({f"f{i}.xml": b"x" for i in range(6)}), "more than 5"),
        (_zip({}, symlink="link.xml"), "symbolic link"),
        (b"PK\x03\x04 this is not a zip", "damaged zip archive"),
    ],
)
async def test_hostile_archives_are_refused_and_write_nothing(
    client: httpx.AsyncClient, backend: Backend, tmp_path: Path, archive: bytes, reason: str
) -> None:
    await login(client)
    for start in range(0, len(archive), 1000):
        assert await upload(client, "v8_1.zip", archive[start : start + 1000]) == ["success"]
    answer = await call(client, "import", filename="import0_1.xml")
    assert answer[0] == "failure"
    assert reason in answer[1]
    assert backend.imported == []
    assert files_under(tmp_path) == set()  # the archive is gone with its run


@pytest.mark.parametrize(
    "filename",
    ["../escape.xml", "..\\..\\escape.xml", "a/../../escape.xml", "shell.php", "x\x00.xml", "C:/w.xml", ""],
)
async def test_unsafe_filenames_are_refused(client: httpx.AsyncClient, tmp_path: Path, filename: str) -> None:
    await login(client)
    answer = await upload(client, filename, b"<x/>")
    assert answer[0] == "failure"
    assert files_under(tmp_path) == set()


async def test_linux_1c_prefixes_are_stripped(client: httpx.AsyncClient, backend: Backend) -> None:
    await login(client)
    assert await upload(client, "/tmp/import0_1.xml", b"<x/>") == ["success"]
    assert (await import_until_done(client, "import0_1.xml"))[-1][0] == "success"


async def test_an_oversized_run_is_refused(client: httpx.AsyncClient) -> None:
    await login(client)
    for _ in range(40):  # chunks of file_limit, as 1C sends them
        assert (await upload(client, "import0_1.xml", b"x" * 1000))[0] == "success"
    answers = [(await upload(client, "import0_2.xml", b"x" * 1000))[0] for _ in range(11)]
    assert answers[:10] == ["success"] * 10
    assert answers[10] == "failure"


async def test_wrong_password_missing_and_foreign_cookie(client: httpx.AsyncClient, backend: Backend) -> None:
    wrong = await client.get(URL, params={"type": "catalog", "mode": "checkauth"}, auth=("exchange", "nope"))
    assert wrong.content.decode("cp1251").startswith("failure\n")
    assert COOKIE not in wrong.cookies
    assert (await call(client, "init"))[0] == "failure"  # no cookie at all
    client.cookies.set(COOKIE, "f" * 32)
    assert (await call(client, "init"))[0] == "failure"  # a cookie we never issued
    await login(client, "sale")
    assert (await call(client, "init", "catalog"))[0] == "failure"  # a sale run is not a catalog run
    assert (await upload(client, "import.xml", b"<x/>", "catalog"))[0] == "failure"
    assert backend.imported == []


async def test_basic_resent_with_a_wrong_password_is_refused(client: httpx.AsyncClient) -> None:
    await login(client)
    reply = await client.get(URL, params={"type": "catalog", "mode": "init"}, auth=("exchange", "wrong"))
    assert reply.content.decode("cp1251").startswith("failure")


async def test_wrong_guesses_wait_longer_and_the_right_password_still_passes(
    client: httpx.AsyncClient, waits: Waits
) -> None:
    for _ in range(7):
        await client.get(URL, params={"type": "catalog", "mode": "checkauth"}, auth=("exchange", "nope"))
    assert waits.waited == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]  # growing, capped
    # Nobody is locked out: the right password passes at once, without a wait.
    await login(client)
    assert len(waits.waited) == 7
    # ...and forgives the pair: the next wrong guess starts small again.
    await client.get(URL, params={"type": "catalog", "mode": "checkauth"}, auth=("exchange", "nope"))
    assert waits.waited[-1] == 0.5


async def test_a_broken_file_fails_with_its_reason(client: httpx.AsyncClient, backend: Backend) -> None:
    await login(client)
    await upload(client, "import0_1.xml", b"<broken")
    answer = (await import_until_done(client, "import0_1.xml"))[-1]
    assert answer == ["failure", "import0_1.xml: XML is not well-formed"]


async def test_unknown_mode_and_type(client: httpx.AsyncClient) -> None:
    await login(client)
    assert (await call(client, "frobnicate"))[0] == "failure"
    assert (await call(client, "init", "reference"))[0] == "failure"
