"""How the demo's obmen reaches the site and 1C: the settings and the sandboxes' options of each mode.

`site.mode = "rest"` gives the site sandbox an incoming webhook and, as `site_events` says, an outgoing
webhook bound to obmen's `/hooks/site`, the obmen.ping module posting there, or neither
(docs/protocols/site-rest.md §7); the catalog still goes up through the exchange (§6.4).
`onec.mode = "odata"` points obmen at the 1C sandbox's OData publication and, with the ObmenPing
extension, points its ping at obmen's `/hooks/onec` (docs/protocols/onec.md §A2.1). The exchange modes
need nothing of this: obmen plays 1C toward the site, and 1C calls obmen's `/exchange/1c`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = [
    "CRM_BUYER",
    "ODATA_LOGIN",
    "SITE_WEBHOOK_USER",
    "Secrets",
    "arm_extension",
    "odata_env",
    "site_options",
    "site_rest_env",
]

SITE_WEBHOOK_USER = 1

#: The site user standing in as the buyer of orders made in the CRM (docs/protocols/site-rest.md §6.5).
CRM_BUYER = {"name": "Покупатель из CRM", "email": "crm-orders@shop.example.ru"}
#: The site sandbox's payment system «Счет» and delivery service «Самовывоз» for those orders.
CRM_PAY_SYSTEM, CRM_DELIVERY = 3, 1

#: The 1C user obmen reads OData with (the exchange's user is another one).
ODATA_LOGIN = "obmen"


@dataclass(frozen=True)
class Secrets:
    """The stack's passwords and shared secrets, made anew for every stack."""

    onec_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    site_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    #: The site's incoming webhook code, its outgoing webhook's token and the obmen.ping module's secret.
    site_code: str = field(default_factory=lambda: secrets.token_hex(8))
    site_token: str = field(default_factory=lambda: secrets.token_hex(16))
    ping_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    odata_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    #: What 1C's pings carry (`onec.hook_token`).
    hook_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def creds(self) -> dict[str, str]:
        """The exchange users of 1C and of the site."""
        return {
            "onec_login": "1c",
            "onec_password": self.onec_password,
            "site_login": "obmen",
            "site_password": self.site_password,
        }


def site_options(obmen: str, keys: Secrets, *, mode: str, events: str) -> dict[str, Any]:
    """The site sandbox's options beyond its exchange user: the webhook and where events go (`rest`)."""
    if mode != "rest":
        return {}
    options: dict[str, Any] = {"webhook": f"{SITE_WEBHOOK_USER}/{keys.site_code}"}
    if events == "webhook":
        options |= {"handler": f"{obmen}/hooks/site", "handler_token": keys.site_token}
    elif events == "ping":
        options |= {"ping_url": f"{obmen}/hooks/site", "ping_secret": keys.ping_secret}
    elif events != "none":
        raise ValueError(f"site events: 'webhook', 'ping' or 'none', not {events!r}")
    return options


def site_rest_env(
    site: str,
    code: str,
    *,
    outgoing_token: str = "",
    ping_secret: str = "",
    crm_buyer: int | None = None,
) -> dict[str, str]:
    """The settings that put obmen's site in `rest` mode on the sandbox at `site` with webhook `1/<code>`;
    with `crm_buyer` (a site user's id), orders made in the CRM become site orders for that stand-in."""
    env = {
        "OBMEN_SITE__MODE": "rest",
        "OBMEN_SITE__REST_URL": f"{site}/rest/{SITE_WEBHOOK_USER}/",
        "OBMEN_SITE__REST_TOKEN": code,
        "OBMEN_SITE__REST_OUTGOING_TOKEN": outgoing_token,
        "OBMEN_SITE__PING_SECRET": ping_secret,
    }
    if crm_buyer is not None:
        env |= {
            "OBMEN_SITE__CRM_BUYER_ID": str(crm_buyer),
            "OBMEN_SITE__CRM_PAY_SYSTEM_ID": str(CRM_PAY_SYSTEM),
            "OBMEN_SITE__CRM_DELIVERY_ID": str(CRM_DELIVERY),
        }
    return env


async def crm_buyer(http: httpx.AsyncClient, site: str) -> int:
    """Register the stand-in buyer on the site sandbox; returns the user's id."""
    reply = await http.post(f"{site}/_sandbox/users", json=CRM_BUYER)
    reply.raise_for_status()
    return int(reply.json()["id"])


def odata_env(
    endpoints: Mapping[str, str], *, token: str, extension: bool, poll_interval: float
) -> dict[str, str]:
    """obmen's `[onec]` settings for a sandbox's OData endpoints (`OnecSandbox.odata_endpoints`)."""
    return {
        "OBMEN_ONEC__MODE": "odata",
        "OBMEN_ONEC__ODATA_URL": endpoints["odata"],
        "OBMEN_ONEC__ODATA_LOGIN": endpoints["odata_login"],
        "OBMEN_ONEC__ODATA_PASSWORD": endpoints["odata_password"],
        "OBMEN_ONEC__ODATA_POLL_INTERVAL": str(poll_interval),
        "OBMEN_ONEC__ODATA_EXTENSION": "true" if extension else "false",
        "OBMEN_ONEC__HOOK_TOKEN": token,
    }


async def arm_extension(
    http: httpx.AsyncClient, onec: str, obmen: str, *, installed: bool, token: str
) -> None:
    """Install (or not) the ObmenPing extension in the 1C sandbox, its ping aimed at obmen's `/hooks/onec`."""
    ping = f"{obmen}/hooks/onec" if installed else None
    reply = await http.put(
        f"{onec}/_sandbox/odata", json={"installed": installed, "ping_url": ping, "token": token}
    )
    reply.raise_for_status()
