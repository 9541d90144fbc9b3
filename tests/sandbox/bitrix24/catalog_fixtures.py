"""Helpers for the catalog tests: an honest in-memory `PortalLike` and a direct method caller.

Used until the sandbox core's `Bitrix24Sandbox` is available; then the HTTP tests take over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obmen_sandbox.bitrix24 import catalog
from obmen_sandbox.bitrix24.catalog_common import Listed
from obmen_sandbox.bitrix24.registry import METHODS, Call, Table


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


def invoke(portal: FakePortal, name: str, **params: Any) -> Any:
    """Call a registered method as the HTTP layer would; list answers come back as `Listed`."""
    return METHODS[name.lower()].handler(portal, Call(name=name, params=params))


def result(answer: Any) -> Any:
    """The `result` member of an answer (lists carry theirs inside `Listed`)."""
    return answer.result if isinstance(answer, Listed) else answer
