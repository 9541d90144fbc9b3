"""Helpers for the catalog tests: an honest in-memory `PortalLike` and a client calling the methods.

`open_api()` yields an `Api`: `await api("catalog.product.add", fields={...})` answers an `Answer`
(`result`, `total`, `next`) or raises `ApiError` with the wire code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from obmen_sandbox.bitrix24 import catalog
from obmen_sandbox.bitrix24.catalog_common import Listed
from obmen_sandbox.bitrix24.registry import METHODS, Call, RestError, Table


@dataclass
class FrozenClock:
    """A clock that moves only when told to."""

    at: float = 1_790_000_000.0

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@dataclass
class FakePortal:
    """Tables, a frozen clock and a record of emitted events: everything a method may touch."""

    clock: FrozenClock = field(default_factory=FrozenClock)
    tables: dict[str, Table] = field(default_factory=dict)
    events: list[tuple[str, int | str, dict[str, Any]]] = field(default_factory=list)

    def table(self, name: str) -> Table:
        return self.tables.setdefault(name, Table(name))

    def emit(self, event: str, object_id: int | str, call: Call, **extra: Any) -> None:
        self.events.append((event, object_id, extra))


def new_portal() -> FakePortal:
    """A portal seeded as the core seeds it."""
    portal = FakePortal()
    catalog.seed_defaults(portal)
    return portal


@dataclass(frozen=True)
class Answer:
    """A successful answer: `result` and, for lists, `total` and `next`."""

    result: Any
    total: int | None = None
    next: int | None = None


class ApiError(Exception):
    """An error answer."""

    def __init__(self, code: str, description: str, status: int) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.code, self.description, self.status = code, description, status


class Api:
    """Calls catalog methods on a portal the way the HTTP layer dispatches them."""

    def __init__(self, portal: FakePortal) -> None:
        self.portal = portal

    async def __call__(self, name: str, **params: Any) -> Answer:
        try:
            answer = METHODS[name.lower()].handler(self.portal, Call(name=name, params=params))
        except RestError as error:
            raise ApiError(error.code, error.description, error.status) from error
        if isinstance(answer, Listed):
            return Answer(answer.result, answer.total, answer.next)
        return Answer(answer)

    def store_control(self, enabled: bool) -> None:
        """Switch inventory management on the portal."""
        catalog.set_store_control(self.portal, enabled)

    @property
    def events(self) -> list[tuple[str, int | str, dict[str, Any]]]:
        """Events emitted so far."""
        return self.portal.events


@asynccontextmanager
async def open_api() -> AsyncIterator[Api]:
    """A client on a freshly seeded portal."""
    yield Api(new_portal())


async def add_product(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    """Add a simple product to the product catalog; its answered row."""
    answer = await api(
        "catalog.product.add", fields={"iblockId": catalog.PRODUCT_IBLOCK, "name": name, **fields}
    )
    row: dict[str, Any] = answer.result["element"]
    return row
