"""Over real sockets: the sandbox 1C against obmen's own exchange endpoint (`obmen.connectors.onec.server`).

The backend here only records what the endpoint hands over, so this pins the protocol between two
independent readings of docs/protocols/commerceml.md §1: the sandbox's client and obmen's server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from onec_recording_site import FIXTURES
from starlette.applications import Starlette

from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import serve_in_thread

exchange = pytest.importorskip("obmen.connectors.onec.server")
uploads = pytest.importorskip("obmen.connectors.onec.uploads")

LOGIN, PASSWORD = "exchange", "s3cret"
ANSWER = (FIXTURES / "bitrix-site-orders-2.05" / "query-response-full.xml").read_bytes()
EMPTY = (FIXTURES / "bitrix-site-orders-2.05" / "query-response-empty.xml").read_bytes()


class Backend:
    """Records imports; answers `query` with the Bitrix sample once, then with nothing."""

    def __init__(self) -> None:
        self.imported: list[tuple[str, bytes]] = []
        self.documents: list[bytes] = []
        self.deactivated = 0
        self.acknowledged = 0

    async def import_file(self, run: object, path: Path) -> str:
        self.imported.append((path.name, await asyncio.to_thread(path.read_bytes)))
        return f"{path.name}: read"

    async def deactivate(self, run: object) -> str:
        self.deactivated += 1
        return "deactivated 0"

    async def query(self, run: object) -> bytes:
        return EMPTY if self.acknowledged else ANSWER

    async def acknowledge(self, run: object) -> None:
        self.acknowledged += 1

    async def import_documents(self, run: object, path: Path) -> str:
        self.documents.append(await asyncio.to_thread(path.read_bytes))
        return "documents read"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[OnecSandbox, Backend]]:
    backend = Backend()
    limits = uploads.Limits(file_limit=4096)
    endpoint = exchange.ExchangeEndpoint(
        backend, login=LOGIN, password=PASSWORD, workdir=tmp_path / "runs", limits=limits
    )
    with serve_in_thread(Starlette(routes=endpoint.routes())) as url:
        yield OnecSandbox(url + "/bitrix/admin/1c_exchange.php", LOGIN, PASSWORD), backend


async def test_catalog_and_sale_runs_complete_against_obmen(served: tuple[OnecSandbox, Backend]) -> None:
    sandbox, backend = served
    full = await sandbox.run_catalog()
    assert full["ok"] is True, full
    assert [name for name, _ in backend.imported] == ["import0_1.xml", "offers0_1.xml"]
    assert backend.deactivated == 1
    assert full["file_limit"] == 4096
    assert [u["chunks"] for u in full["uploads"]] == [-(-u["bytes"] // 4096) for u in full["uploads"]]
    assert sum(u["chunks"] for u in full["uploads"]) > len(full["uploads"])  # really chunked
    key = next(iter(sandbox.infobase.products))
    sandbox.infobase.products[key].name = "Новое имя"
    sandbox.infobase.products[key].rev = sandbox.infobase.stamp()
    delta = await sandbox.run_catalog(changes_only=True)
    assert (delta["ok"], delta["products"], delta["offers"]) == (True, 1, 0)
    assert "Новое имя".encode() in backend.imported[-2][1]
    sale = await sandbox.run_sale()
    assert sale["ok"] is True, sale
    assert (sale["received"], backend.acknowledged) == (2, 1)
    assert len(backend.documents) == 1
    assert "Номер по 1С".encode() in backend.documents[0]
    again = await sandbox.run_sale()
    assert (again["ok"], again["received"], again["uploaded"]) == (True, 0, None)


async def test_wrong_password_is_refused_by_obmen(served: tuple[OnecSandbox, Backend]) -> None:
    sandbox, backend = served
    intruder = OnecSandbox(sandbox.target, LOGIN, "wrong")
    result = await intruder.run_catalog()
    assert result["ok"] is False
    assert result["error"]["mode"] == "checkauth"
    assert backend.imported == []
    assert result["error"]["reason"]
