"""The seam between the Bitrix24 sandbox's HTTP layer and its REST methods.

Every REST method is a plain function `handler(portal, call) -> result` registered under its name with
`@method(...)`. The HTTP layer (auth, body decoding, limits, `batch`, envelopes) lives elsewhere and
never knows what a method does; a method never knows how it was called (alone or inside `batch`).
Errors are `RestError`s carrying the wire code and HTTP status (docs/protocols/bitrix24.md §2.3).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "METHODS",
    "Call",
    "Clock",
    "Listed",
    "Method",
    "PortalLike",
    "RestError",
    "Table",
    "legacy_error",
    "method",
]


class RestError(Exception):
    """A REST error as the portal reports it: `{"error": code, "error_description": description}`."""

    def __init__(self, code: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


def legacy_error(description: str, status: int = 400) -> RestError:
    """Legacy `crm.*` methods answer HTTP 400 with an empty code (docs/protocols/bitrix24.md §2.3)."""
    return RestError("", description, status)


@dataclass(frozen=True)
class Listed:
    """A list method's answer: the `result` payload plus the envelope's `total` and `next` (§2.2).

    A handler returns `Listed(result, total, next)` instead of a bare value when the envelope must
    carry `total`/`next` (`next` None when there is no further page, as with `start=-1`).
    """

    result: Any
    total: int
    next: int | None = None


class Clock(Protocol):
    """The sandbox's notion of time: real by default, frozen and advanced by hand in tests."""

    def now(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class Table:
    """Rows of one entity by integer id, ids handed out in increasing order as a portal does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def add(self, row: Mapping[str, Any]) -> int:
        """Insert a copy of `row` under a new id and return the id."""
        new_id = next(self._ids)
        self.rows[new_id] = dict(row)
        return new_id

    def get(self, row_id: Any) -> dict[str, Any] | None:
        """The row with this id (an int or a numeric string), or None."""
        try:
            return self.rows.get(int(row_id))
        except (TypeError, ValueError):
            return None

    def delete(self, row_id: Any) -> bool:
        """Remove the row; whether it existed."""
        try:
            return self.rows.pop(int(row_id), None) is not None
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(sorted(self.rows.items()))

    def __len__(self) -> int:
        return len(self.rows)

    def seed_ids_from(self, next_id: int) -> None:
        """Continue numbering at `next_id` (seeded portals do not start at 1)."""
        self._ids = itertools.count(max(next_id, max(self.rows, default=0) + 1))


class PortalLike(Protocol):
    """What a method may use of the portal: its tables, its clock, and event emission."""

    @property
    def clock(self) -> Clock: ...

    def table(self, name: str) -> Table:
        """The table `name`, created empty on first use."""
        ...

    def emit(self, event: str, object_id: int | str, call: Call, **extra: Any) -> None:
        """Record that an object changed: online handlers and the offline queue see it (§6)."""
        ...


@dataclass
class Call:
    """One method call as the method sees it."""

    name: str
    params: Mapping[str, Any]
    user_id: int = 1
    #: The application's client_id, or None for a webhook.
    app: str | None = None
    #: The `auth_connector` the caller declared, excluded from its own offline events (§6.5).
    auth_connector: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    def param(self, name: str, default: Any = None) -> Any:
        """A top-level parameter, matched case-insensitively as legacy methods do (§2.1)."""
        if name in self.params:
            return self.params[name]
        lowered = name.lower()
        for key, value in self.params.items():
            if key.lower() == lowered:
                return value
        return default


Handler = Callable[[Any, Call], Any]


@dataclass(frozen=True)
class Method:
    """A registered REST method."""

    name: str
    handler: Handler
    scope: str
    #: `batch` refuses it (file transfer, nested batch: §4).
    batchable: bool = True
    #: Needs an application's context (`event.bind`: WRONG_AUTH_TYPE through a webhook).
    app_only: bool = False


#: Every method the sandbox knows, by lower-case name (method names are case-insensitive, §9).
METHODS: dict[str, Method] = {}


def method(
    name: str, *, scope: str, batchable: bool = True, app_only: bool = False
) -> Callable[[Handler], Handler]:
    """Register `handler` as REST method `name`."""

    def register(handler: Handler) -> Handler:
        key = name.lower()
        if key in METHODS:
            raise RuntimeError(f"method {name} registered twice")
        METHODS[key] = Method(name, handler, scope, batchable, app_only)
        return handler

    return register
