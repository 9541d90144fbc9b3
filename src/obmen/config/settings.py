"""Typed settings: one frozen model per section, what `obmen.config.load` validates into.

Every key is described in docs/configuration.md.

Secrets (webhook codes, passwords, OAuth secrets) are `SecretStr`, listed in `SECRET_KEYS`, and masked in
`public_dict()`. Connectors are handed these sections; only the loader reads files and the environment.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from obmen.config.mapping import MappingSettings

__all__ = ["SECRET_KEYS", "Settings", "exposure"]

#: Dotted keys that hold secrets: allowed only from the environment or the secrets file.
SECRET_KEYS = frozenset(
    {
        "bitrix24.webhook_token",
        "bitrix24.client_secret",
        "bitrix24.outgoing_token",
        "site.password",
        "site.rest_token",
        "site.rest_outgoing_token",
        "site.ping_secret",
        "onec.password",
        "onec.odata_password",
        "onec.hook_token",
        "web.admin_token",
    }
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Where the store lives: SQLite by default, PostgreSQL by URL."""

    url: str = ""


class WorkerSettings(_Section):
    """How workers claim, retry and pace themselves."""

    batch_size: int = Field(100, ge=1, le=1000)
    concurrency: int = Field(2, ge=1, le=64)
    poll_interval: float = Field(1.0, gt=0)
    #: The lease of a claimed item, renewed every third of it while its worker lives.
    lease_seconds: float = Field(15.0, gt=0)
    #: The ttl of the named leases (tenant, scheduler, site exchange), renewed by a heartbeat
    #: (docs/operations.md §10).
    tenant_lease_seconds: float = Field(15.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    #: Seconds an item may wait for a referenced object before it is parked (docs/architecture.md §2.14).
    max_wait: float = Field(86400.0, gt=0)
    backoff_base: float = Field(1.0, gt=0)
    backoff_max: float = Field(300.0, gt=0)
    #: A system that refuses obmen as a whole is probed after this long, then twice as long after each
    #: failed probe up to `probe_max` (docs/architecture.md §2.13).
    probe_first: float = Field(60.0, gt=0)
    probe_max: float = Field(1800.0, gt=0)
    full_resync_interval: float = Field(3600.0, gt=0)
    listen_notify: bool = True


class WebSettings(_Section):
    """The web app's address."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = None
    #: Guards the operator's page and API (`Authorization: Bearer …`); /healthz, /readyz, /metrics stay open.
    admin_token: SecretStr | None = None
    #: Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` names the client (1C's guess counting).
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: Any) -> Any:
        # From the environment: `OBMEN_WEB__TRUSTED_PROXIES=10.0.0.1,10.1.0.0/16`.
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _proxies(self) -> WebSettings:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {entry!r} is not an address or a CIDR network") from exc
        return self


class Bitrix24Settings(_Section):
    """The Bitrix24 portal connection (its connector arrives with its own issue)."""

    mode: Literal["webhook", "app"] = "webhook"
    portal: str | None = None
    webhook_user: int | None = None
    webhook_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    #: The portal's `member_id` (docs/protocols/bitrix24.md §1.2): an install for another one is refused.
    member_id: str | None = None
    #: Let an install replace one for another member or application (the operator's switch; off by default).
    allow_reinstall: bool = False
    auth_host: str = "https://oauth.bitrix.info"
    limits: Literal["cloud", "enterprise", "off", "custom"] = "cloud"
    #: `limits = "custom"` (a box sets its own bucket, docs/protocols/bitrix24.md §3): requests drained per
    # second…
    rate: float | None = Field(None, gt=0)
    #: …and requests of headroom before the portal refuses.
    burst: int | None = Field(None, ge=1)
    #: The `application_token` of an outgoing webhook, which signs the events it posts
    # (docs/protocols/bitrix24.md §6).
    outgoing_token: SecretStr | None = None
    #: The catalog has variations (trade offers under parent products, docs/protocols/bitrix24.md §5.7).
    variations: bool = False
    #: Seconds between polls of the modification times (webhook mode) when no event rang.
    poll_every: float = Field(30.0, gt=0)
    #: Seconds an order update trusts what obmen last read or wrote of its deal (0: read before each).
    fresh_for: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _custom_limits(self) -> Bitrix24Settings:
        if self.limits == "custom" and (self.rate is None or self.burst is None):
            raise ValueError('limits = "custom" needs rate (requests per second) and burst (requests)')
        if self.limits != "custom" and (self.rate is not None or self.burst is not None):
            raise ValueError(f'rate and burst apply only to limits = "custom", not {self.limits!r}')
        return self


class SiteSettings(_Section):
    """The 1C-Bitrix site: its exchange endpoint (obmen acts as 1C) and, in `rest` mode, its REST webhook."""

    #: `exchange`: orders through the CommerceML exchange; `rest`: through the site's REST and its events
    # (docs/protocols/site-rest.md).
    mode: Literal["exchange", "rest"] = "exchange"
    exchange_url: str | None = None
    login: str | None = None
    password: SecretStr | None = None
    #: Exchange mode: seconds between two exchanges (pull orders, push catalog and documents). REST mode:
    # seconds between two polls of the orders' modification dates (the net under lost events).
    poll_interval: float = Field(5.0, gt=0)
    #: The incoming webhook's URL without its secret code: `https://shop.example.ru/rest/1/`.
    rest_url: str | None = None
    #: The webhook's secret code (the last part of its URL).
    rest_token: SecretStr | None = None
    #: The `application_token` of the site's outgoing webhook, which signs the events it posts.
    rest_outgoing_token: SecretStr | None = None
    #: The key the obmen.ping module signs its pings with (HMAC-SHA256).
    ping_secret: SecretStr | None = None
    #: REST mode, orders made elsewhere (a deal built in the CRM): the site user who stands in as their
    # buyer, and the payment system and delivery service their payment and shipment get
    # (docs/protocols/site-rest.md §6.5). Without them such orders are refused with the reason.
    crm_buyer_id: int | None = Field(None, gt=0)
    crm_pay_system_id: int | None = Field(None, gt=0)
    crm_delivery_id: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _crm_orders(self) -> SiteSettings:
        given = [self.crm_buyer_id, self.crm_pay_system_id, self.crm_delivery_id]
        if any(v is not None for v in given) and not all(v is not None for v in given):
            raise ValueError(
                "crm_buyer_id, crm_pay_system_id and crm_delivery_id go together: an order made by REST "
                "needs its buyer, its payment system and its delivery service"
            )
        return self

    @model_validator(mode="after")
    def _rest_url(self) -> SiteSettings:
        if self.rest_url is not None:
            if not self.rest_url.startswith(("http://", "https://")):
                raise ValueError(f"rest_url must be an http(s) URL, not {self.rest_url!r}")
            path = self.rest_url.split("://", 1)[1].partition("/")[2].strip("/").split("/")
            if len(path) < 2 or path[-2] != "rest" or not path[-1].isdigit():
                raise ValueError(
                    "rest_url is the webhook's URL without its secret code, "
                    f"https://shop.example.ru/rest/<user id>/, not {self.rest_url!r}"
                )
        return self


class OneCSettings(_Section):
    """How obmen reaches 1C: the endpoint 1C calls, or its OData interface (docs/protocols/onec.md)."""

    #: `exchange`: 1C calls obmen's CommerceML endpoint on its schedule; `odata`: obmen reads and writes
    #: through 1C's standard OData interface and captures changes itself (docs/protocols/onec.md §A1, §A2).
    mode: Literal["exchange", "odata"] = "exchange"
    login: str | None = None
    password: SecretStr | None = None
    #: Bytes 1C's uploads and their unpacked archives may hold on disk at once, all runs together.
    spool_quota: int = Field(4 * 1024**3, ge=1024 * 1024)
    #: The OData root, `http(s)://<host>/<publication>/odata/standard.odata` (docs/protocols/onec.md §A1.2).
    odata_url: str | None = None
    odata_login: str | None = None
    odata_password: SecretStr | None = None
    #: Seconds between two reads of 1C's changes (the exchange-plan service, or a scan without it).
    odata_poll_interval: float = Field(5.0, gt=0)
    #: The ObmenPing extension is installed: changes are read from its exchange-plan node (§A2).
    odata_extension: bool = False
    #: The shared secret 1C's pings carry (`Authorization: Bearer …`); `/hooks/onec` is off without it.
    hook_token: SecretStr | None = None

    @model_validator(mode="after")
    def _odata_complete(self) -> OneCSettings:
        if self.mode == "odata" and not (self.odata_url and self.odata_login):
            raise ValueError('mode = "odata" needs odata_url and odata_login (and odata_password)')
        return self


class Settings(_Section):
    """Everything obmen reads at startup."""

    state_dir: Path = Path("state")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    secrets_file: Path | None = None
    database: DatabaseSettings = DatabaseSettings()
    worker: WorkerSettings = WorkerSettings()
    web: WebSettings = WebSettings()
    bitrix24: Bitrix24Settings = Bitrix24Settings()
    site: SiteSettings = SiteSettings()
    onec: OneCSettings = OneCSettings()
    #: `entity.field` → `owner:<system>` | `newest` | `conflict` (obmen.engine.policy).
    field_policy: dict[str, str] = {}
    mapping: MappingSettings = MappingSettings()

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database.url:
            url = f"sqlite:///{(self.state_dir / 'obmen.db').resolve()}"
            object.__setattr__(self, "database", DatabaseSettings(url=url))
        return self

    def public_dict(self) -> dict[str, Any]:
        """The settings with every secret masked (for `obmen status` and logs)."""
        data = self.model_dump(mode="json")
        for key in SECRET_KEYS:
            section, name = key.split(".")
            if data[section].get(name) is not None:
                data[section][name] = "***"
        return data


def exposure(web: WebSettings) -> str | None:
    """Why the web app must not start as configured: open to the network without `web.admin_token`.

    The status page and `/api` show customer data; without the token they are open to whoever reaches
    the address, so then obmen listens on loopback only (docs/operations.md §8.1).
    """
    if web.admin_token is not None and web.admin_token.get_secret_value():
        return None
    host = web.host.strip().strip("[]")
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"web.host = {web.host!r} without web.admin_token: the status page would show customer data to "
        "anyone who reaches it; set OBMEN_WEB__ADMIN_TOKEN or listen on 127.0.0.1 / "
        "страница с данными клиентов была бы открыта всем: задайте web.admin_token или слушайте 127.0.0.1"
    )
