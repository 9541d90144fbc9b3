"""Typed settings: a TOML file plus `OBMEN_…` environment overrides, validated once at startup.

Precedence: defaults < TOML file < secrets file < environment (`OBMEN_WORKER__BATCH_SIZE=200`, nested
with `__`). Every problem becomes one `ConfigError` line naming the file, the dotted key, the bad value
and what is allowed; the CLI prints it and exits with code 2. Secrets (webhook codes, passwords, OAuth
secrets) are accepted only from the environment or a secrets file that others cannot read, never from
the main TOML, and they are masked in every message and in `public_dict()`.
"""

from __future__ import annotations

import difflib
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from obmen.config_mappings import MappingSettings
from obmen.errors import ConfigError

__all__ = ["SECRET_KEYS", "Settings", "load_settings"]

#: Dotted keys that hold secrets: allowed only from the environment or the secrets file.
SECRET_KEYS = frozenset(
    {
        "bitrix24.webhook_token",
        "bitrix24.client_secret",
        "bitrix24.outgoing_token",
        "site.password",
        "onec.password",
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
    lease_seconds: float = Field(60.0, gt=0)
    tenant_lease_seconds: float = Field(30.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    backoff_base: float = Field(1.0, gt=0)
    backoff_max: float = Field(300.0, gt=0)
    full_resync_interval: float = Field(3600.0, gt=0)
    listen_notify: bool = True


class WebSettings(_Section):
    """The web app's address."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = None
    #: Guards the operator's page and API (`Authorization: Bearer …`); /healthz, /readyz, /metrics stay open.
    admin_token: SecretStr | None = None


class Bitrix24Settings(_Section):
    """The Bitrix24 portal connection (its connector arrives with its own issue)."""

    mode: Literal["webhook", "app"] = "webhook"
    portal: str | None = None
    webhook_user: int | None = None
    webhook_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    auth_host: str = "https://oauth.bitrix.info"
    limits: Literal["cloud", "enterprise", "off", "custom"] = "cloud"
    #: `limits = "custom"` (a box sets its own bucket, bitrix24.md §3): requests drained per second…
    rate: float | None = Field(None, gt=0)
    #: …and requests of headroom before the portal refuses.
    burst: int | None = Field(None, ge=1)
    #: The `application_token` of an outgoing webhook, which signs the events it posts (bitrix24.md §6).
    outgoing_token: SecretStr | None = None
    #: The catalog has variations (trade offers under parent products, bitrix24.md §5.7).
    variations: bool = False
    #: Seconds between polls of the modification times (webhook mode) when no event rang.
    poll_every: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _custom_limits(self) -> Bitrix24Settings:
        if self.limits == "custom" and (self.rate is None or self.burst is None):
            raise ValueError('limits = "custom" needs rate (requests per second) and burst (requests)')
        if self.limits != "custom" and (self.rate is not None or self.burst is not None):
            raise ValueError(f'rate and burst apply only to limits = "custom", not {self.limits!r}')
        return self


class SiteSettings(_Section):
    """The 1C-Bitrix site's exchange endpoint, where obmen acts as 1C."""

    exchange_url: str | None = None
    login: str | None = None
    password: SecretStr | None = None
    #: Seconds between two exchanges with the site (pull orders, push catalog and documents).
    poll_interval: float = Field(5.0, gt=0)


class OneCSettings(_Section):
    """The exchange endpoint that 1C calls."""

    login: str | None = None
    password: SecretStr | None = None


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
    #: `entity.field` → `owner:<system>` | `newest` | `conflict` (obmen.sync.policy).
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


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("OBMEN_") or name in ("OBMEN_CONFIG", "OBMEN_TEST_PG"):
            continue
        path = name[len("OBMEN_") :].lower().split("__")
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def _secret_keys_in(data: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in SECRET_KEYS if k.split(".")[1] in data.get(k.split(".")[0], {}))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _read_secrets(path: Path) -> dict[str, Any]:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{path}: secrets file not found") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: secrets file is readable by others (mode {oct(mode & 0o777)}): chmod 600 it"
        )
    data = _read_toml(path)
    stray = [
        f"{s}.{k}" for s, v in data.items() if isinstance(v, dict) for k in v if f"{s}.{k}" not in SECRET_KEYS
    ]
    if stray:
        raise ConfigError(f"{path}: {stray[0]} is not a secret: put it in the main configuration file")
    return data


def _describe(error: Mapping[str, Any], data: Mapping[str, Any], where: str) -> str:
    loc = [str(p) for p in error["loc"]]
    key = ".".join(loc)
    node: Any = data
    for part in loc:
        node = node.get(part) if isinstance(node, Mapping) else None
    value = "'***'" if key in SECRET_KEYS else repr(node)
    if error["type"] == "extra_forbidden":
        model: Any = Settings
        for part in loc[:-1]:
            model = model.model_fields[part].annotation
        allowed = sorted(model.model_fields)
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f": allowed keys are {', '.join(allowed)}"
        return f"{where}: {key}: unknown key{hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {key} = {value}: {message[:1].lower()}{message[1:]}"


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load, merge and validate the configuration; raises `ConfigError` with a one-line message."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    where = str(path) if path else "environment"
    if path is not None:
        data = _read_toml(path)
        leaked = _secret_keys_in(data)
        if leaked:
            raise ConfigError(
                f"{path}: {leaked[0]} is a secret: set OBMEN_{leaked[0].upper().replace('.', '__')} "
                "or put it in the secrets file (secrets_file = ...), not in the configuration"
            )
    overrides = _from_env(env)
    secrets = overrides.get("secrets_file") or data.get("secrets_file")
    if secrets:
        _merge(data, _read_secrets(Path(secrets)))
    _merge(data, overrides)
    if overrides:
        where = f"{where} + OBMEN_* environment" if path else where
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], data, where)) from None
