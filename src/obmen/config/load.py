"""Loading the configuration: a TOML file plus `OBMEN_…` environment overrides, validated once at startup.

Precedence: defaults < TOML file < secrets file < environment (`OBMEN_WORKER__BATCH_SIZE=200`, nested
with `__`). Every problem becomes one `ConfigError` line naming the file, the dotted key, the bad value
and what is allowed; the CLI prints it and exits with code 2. Secrets are accepted only from the
environment or a secrets file that others cannot read, never from the main TOML, and they are masked in
every message (docs/configuration.md).
"""

from __future__ import annotations

import difflib
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from obmen.config.settings import SECRET_KEYS, Settings
from obmen.errors import ConfigError

__all__ = ["load_settings"]


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
