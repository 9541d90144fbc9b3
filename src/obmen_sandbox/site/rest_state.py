"""What the site's `rest` module holds: incoming webhooks, armed REST faults and a count of calls."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RestFault", "RestState", "Webhook", "webhook_url"]


@dataclass(frozen=True)
class Webhook:
    """An incoming webhook: its user, secret code and scopes."""

    user_id: int
    code: str
    scopes: frozenset[str] = frozenset({"sale", "catalog"})

    def json(self, base_url: str = "") -> dict[str, Any]:
        """The control API's view; `url` is what an integrator pastes into obmen."""
        return {
            "user_id": self.user_id,
            "code": self.code,
            "scopes": sorted(self.scopes),
            "url": webhook_url(base_url, self),
        }


@dataclass
class RestFault:
    """The next matching REST calls answer this error (control API `/_sandbox/rest/faults`)."""

    status: int = 503
    error: str = "QUERY_LIMIT_EXCEEDED"
    description: str = "Too many requests"
    method: str | None = None
    times: int = 1

    def json(self) -> dict[str, Any]:
        """The control API's view."""
        return dict(self.__dict__)


@dataclass
class RestState:
    """The webhooks and the armed REST faults of one site."""

    webhooks: dict[tuple[int, str], Webhook] = field(default_factory=dict)
    faults: list[RestFault] = field(default_factory=list)
    #: Calls by method, for tests and benchmarks.
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, user_id: int = 1, code: str | None = None, scopes: frozenset[str] | None = None) -> Webhook:
        """Make a webhook (the `bitrix:rest.hook` component's form)."""
        hook = Webhook(user_id, code or secrets.token_hex(8), scopes or frozenset({"sale", "catalog"}))
        self.webhooks[(hook.user_id, hook.code)] = hook
        return hook

    def take_fault(self, method: str) -> RestFault | None:
        """The first armed fault for `method`; spent when its count runs out."""
        for fault in self.faults:
            if fault.method in (None, method):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None


def webhook_url(base_url: str, hook: Webhook) -> str:
    """The webhook's base URL, `https://shop/rest/1/<code>/` (methods are appended to it)."""
    return f"{base_url.rstrip('/')}/rest/{hook.user_id}/{hook.code}/"
