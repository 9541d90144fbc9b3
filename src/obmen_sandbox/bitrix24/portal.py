"""One portal's state: tables, users, applications, events, limits and injected faults."""

from __future__ import annotations

import hashlib
import importlib
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from obmen_sandbox.bitrix24 import stages
from obmen_sandbox.bitrix24.auth import Auth
from obmen_sandbox.bitrix24.clock import SandboxClock
from obmen_sandbox.bitrix24.events import EventHub
from obmen_sandbox.bitrix24.limits import Limits
from obmen_sandbox.bitrix24.registry import Call, Table

__all__ = ["Faults", "Portal", "RequestLog"]


@dataclass
class Faults:
    """Misbehaviour injected into REST answers (control API `/faults`, docs/protocols/bitrix24.md §9)."""

    #: Share of requests answered 500 with an HTML body (a proxy in front of the portal).
    error_rate: float = 0.0
    #: Seconds added to every answer.
    latency: float = 0.0
    #: Share of requests that hang for `timeout_seconds` before a 504 HTML answer.
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    #: Share of requests that are carried out but whose answer is lost: the change is made (and its events
    #: sent), then the caller waits `timeout_seconds` for a 504 HTML page (docs/protocols/bitrix24.md §3).
    lost_rate: float = 0.0
    #: The portal moved: requests for another host get 302 to this one (§1.3).
    moved_to: str | None = None
    #: REST blocked by support: 503 OVERLOAD_LIMIT (docs/protocols/bitrix24.md §2.3).
    overload: bool = False
    #: A free plan: 403 ACCESS_DENIED "REST API is available only on commercial plans" (§1.3).
    free_plan: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(0))


class RequestLog:
    """The REST calls that reached the portal, as they arrived (control API `GET /_sandbox/requests`).

    Tests read it to prove what obmen did not ask; the newest `KEEP` are kept, the total counts them all.
    """

    KEEP = 10_000

    def __init__(self) -> None:
        self.total = 0
        self.recent: deque[tuple[str, float]] = deque(maxlen=self.KEEP)

    def record(self, method: str, at: float) -> None:
        """One REST call arrived."""
        self.total += 1
        self.recent.append((method, at))

    def clear(self) -> None:
        """Forget every call (`reset`)."""
        self.total = 0
        self.recent.clear()

    def as_json(self) -> dict[str, Any]:
        """`{"total": n, "requests": [{"method", "at"}, …]}`, oldest first."""
        return {"total": self.total, "requests": [{"method": m, "at": t} for m, t in self.recent]}


DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {"NAME": "Админ", "LAST_NAME": "Порталов", "EMAIL": "admin@portal.test", "IS_ADMIN": True},
)
PRESETS: tuple[dict[str, Any], ...] = (
    {
        "ID": 1,
        "ENTITY_TYPE_ID": 8,
        "COUNTRY_ID": 1,
        "NAME": "Организация",
        "ACTIVE": "Y",
        "SORT": 500,
        "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#",
    },
    {
        "ID": 2,
        "ENTITY_TYPE_ID": 8,
        "COUNTRY_ID": 1,
        "NAME": "ИП",
        "ACTIVE": "Y",
        "SORT": 500,
        "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#",
    },
    {
        "ID": 3,
        "ENTITY_TYPE_ID": 8,
        "COUNTRY_ID": 1,
        "NAME": "Физ. лицо",
        "ACTIVE": "Y",
        "SORT": 500,
        "XML_ID": "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#",
    },
)


class Portal:
    """A Bitrix24 portal; implements `registry.PortalLike` for the methods."""

    def __init__(
        self,
        *,
        domain: str,
        webhook: str,
        limits: str,
        clock: SandboxClock,
        event_transport: httpx.AsyncBaseTransport | None = None,
        base_url: str | None = None,
    ) -> None:
        user, _, token = webhook.partition("/")
        if not user.isdigit() or not token:
            raise ValueError(f"webhook must be USER/TOKEN, not {webhook!r}")
        self.domain = domain
        self.member_id = hashlib.md5(domain.encode(), usedforsecurity=False).hexdigest()
        self._clock = clock
        self.auth = Auth(clock, int(user), token)
        self.limits = Limits(clock, limits)
        self.faults = Faults()
        self.events = EventHub(clock, self.auth, domain, self.member_id, event_transport, base_url or "")
        self.requests = RequestLog()
        self._tables: dict[str, Table] = {}
        self.reset()

    @property
    def clock(self) -> SandboxClock:
        """The sandbox clock."""
        return self._clock

    def table(self, name: str) -> Table:
        """The table `name`, created empty on first use."""
        if name not in self._tables:
            self._tables[name] = Table(name)
        return self._tables[name]

    def emit(self, event: str, object_id: int | str, call: Call, **extra: Any) -> None:
        """An object changed: online handlers and the offline queue see it (§6)."""
        self.events.emit(event, object_id, call, **extra)

    def tables(self) -> Mapping[str, Table]:
        """Every table by name."""
        return self._tables

    def reset(self) -> None:
        """Back to a fresh portal: default pipelines, stages, users, presets, catalog; no apps, no events."""
        self._tables.clear()
        self.requests.clear()
        self.auth.reset()
        self.events.reset()
        self.limits.reset()
        self.faults = Faults()
        stages.seed_stages(self)
        for user in DEFAULT_USERS:
            self.add_user(user)
        presets = self.table("crm.requisite.preset")
        for preset in PRESETS:
            presets.rows[int(preset["ID"])] = dict(preset)
        presets.seed_ids_from(len(PRESETS) + 1)
        # The catalog family seeds its own dictionaries (two catalogs, price types, units, a warehouse).
        catalog = importlib.import_module("obmen_sandbox.bitrix24.catalog")
        catalog.seed_defaults(self)

    def add_user(self, fields: Mapping[str, Any]) -> int:
        """Add an employee (control API `/seed`)."""
        table = self.table("user")
        # The members of user.current / user.get in the docs' examples (D:…/user/user-current.md).
        row: dict[str, Any] = {"ACTIVE": True, "NAME": "", "LAST_NAME": "", "EMAIL": ""}
        row |= {"LAST_LOGIN": "", "DATE_REGISTER": "2024-01-01T00:00:00+03:00", "IS_ONLINE": "N"}
        row |= {"LAST_ACTIVITY_DATE": "", "PERSONAL_GENDER": "", "PERSONAL_BIRTHDAY": "", "WORK_POSITION": ""}
        row |= {"UF_EMPLOYMENT_DATE": "", "UF_DEPARTMENT": [1], "TIMESTAMP_X": "", "IS_ADMIN": False}
        row.update({str(k).upper(): v for k, v in fields.items()})
        if "ID" in row:
            user_id = int(row["ID"])
            table.rows[user_id] = row
            table.seed_ids_from(user_id + 1)
        else:
            user_id = table.add(row)
            table.rows[user_id]["ID"] = user_id
        return user_id
