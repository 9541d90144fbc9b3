"""The demo's `Stack`: where everything listens, and its `endpoints.json` document (read back by a resume).

The document's keys are a public interface (README, docs/operations.md): keys are added, never renamed.
`site.rest` (the incoming webhook's base URL, its secret code included) is there when the site runs in
`rest` mode; `onec.odata`, `odata_login` and `odata_password` when 1C is reached through OData; `mode` of
each says which path carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obmen.app.runtime import Runtime
from obmen_sandbox.site import EXCHANGE_PATH

__all__ = ["WEBHOOK", "Stack"]

WEBHOOK = "1/demowebhooktoken"
_ODATA = ("odata", "odata_login", "odata_password")


@dataclass
class Stack:
    """Where everything listens, and obmen's runtime."""

    obmen: str
    bitrix24: str
    site: str
    onec: str
    onec_login: str
    onec_password: str
    site_login: str
    site_password: str
    #: obmen's runtime when it runs in this process (None with `Tuning.processes`).
    runtime: Runtime | None
    #: obmen's configuration file (`obmen … --config` it).
    config: Path | None = None
    #: The process of each part (all this one's without `Tuning.processes`).
    pids: dict[str, int] = field(default_factory=dict)
    #: How often obmen was restarted after it died.
    restarts: int = 0
    #: `site.mode` and `onec.mode` of obmen in the stack.
    site_mode: str = "exchange"
    onec_mode: str = "exchange"
    #: The site's incoming webhook (`rest` mode): its base URL with the code, methods appended to it.
    site_rest: str | None = None
    #: 1C's OData publication and its user (`odata` mode): `odata`, `odata_login`, `odata_password`.
    odata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_endpoints(cls, doc: dict[str, Any]) -> Stack:
        """A running demo's stack, read back from its `endpoints.json` (another process runs it)."""

        def base(url: str, tail: str) -> str:
            return url[: -len(tail)] if url.endswith(tail) else url

        site, onec = doc["site"], doc["onec"]
        return cls(
            obmen=doc["obmen"]["url"],
            bitrix24=base(doc["bitrix24"]["sandbox"], "/_sandbox"),
            site=base(site["sandbox"], "/_sandbox"),
            onec=base(onec["sandbox"], "/_sandbox"),
            onec_login=doc["onec_exchange"]["login"],
            onec_password=doc["onec_exchange"]["password"],
            site_login=site["login"],
            site_password=site["password"],
            runtime=None,
            config=Path(doc["config"]) if doc.get("config") else None,
            pids={k: int(v) for k, v in (doc.get("pids") or {}).items()},
            # A demo written before the modes were named ran the exchanges.
            site_mode=str(site.get("mode") or ("rest" if site.get("rest") else "exchange")),
            onec_mode=str(onec.get("mode") or ("odata" if onec.get("odata") else "exchange")),
            site_rest=site.get("rest"),
            odata={k: str(onec[k]) for k in _ODATA if onec.get(k)},
        )

    def endpoints(self) -> dict[str, Any]:
        """The `endpoints.json` document (base URLs; `webhook` and `site.rest` end with `/`)."""
        site: dict[str, Any] = {
            "mode": self.site_mode,
            "exchange": f"{self.site}{EXCHANGE_PATH}",
            "login": self.site_login,
            "password": self.site_password,
            "sandbox": f"{self.site}/_sandbox",
        }
        if self.site_rest:
            site["rest"] = self.site_rest
        onec: dict[str, Any] = {"mode": self.onec_mode, "sandbox": f"{self.onec}/_sandbox", **self.odata}
        return {
            "obmen": {"url": self.obmen},
            "onec_exchange": {
                "url": f"{self.obmen}/exchange/1c",
                "login": self.onec_login,
                "password": self.onec_password,
            },
            "bitrix24": {
                "webhook": f"{self.bitrix24}/rest/{WEBHOOK}/",
                "sandbox": f"{self.bitrix24}/_sandbox",
            },
            "site": site,
            "onec": onec,
            "pids": dict(self.pids),
            "config": str(self.config) if self.config else None,
        }
