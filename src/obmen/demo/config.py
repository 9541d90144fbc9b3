"""The demo's configuration as files: `DIR/obmen.toml` and its secrets file `DIR/secrets.toml` (mode 600).

obmen in the demo is configured the way an integrator configures it, so that `obmen run|check|status|sync
--config DIR/obmen.toml` work against the running stack. Secrets go to the secrets file, never the main
one (docs/configuration.md); values are written with the types the settings validated them to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from obmen.config.load import load_settings
from obmen.config.settings import SECRET_KEYS

__all__ = ["CONFIG", "SECRETS", "write_config"]

CONFIG, SECRETS = "obmen.toml", "secrets.toml"


def _path(name: str) -> list[str]:
    """`OBMEN_FIELD_POLICY__ORDER.COMMENT` → `["field_policy", "order.comment"]` (as the loader reads it)."""
    return name[len("OBMEN_") :].lower().split("__")


def _typed(dumped: Mapping[str, Any], path: list[str]) -> Any:
    node: Any = dumped
    for part in path:
        node = node[part]
    return node


def _put(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def _key(name: str) -> str:
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _lines(tree: Mapping[str, Any], prefix: str) -> list[str]:
    lines = [f"{_key(k)} = {_value(v)}" for k, v in tree.items() if not isinstance(v, Mapping)]
    for name, child in tree.items():
        if isinstance(child, Mapping):
            header = f"{prefix}{_key(name)}"
            if any(not isinstance(v, Mapping) for v in child.values()):
                lines += ["", f"[{header}]"]
            lines += _lines(child, f"{header}.")
    return lines


def dumps(tree: Mapping[str, Any]) -> str:
    """A small TOML writer for the demo's plain values: scalars, then one table per nested mapping."""
    return "\n".join(_lines(tree, "")).lstrip("\n") + "\n"


def write_config(state_dir: Path, env: Mapping[str, str]) -> Path:
    """Write the settings `env` describes as `state_dir/obmen.toml` and `state_dir/secrets.toml`."""
    state_dir = state_dir.resolve()
    dumped = load_settings(None, env=env).model_dump(mode="json")
    main: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith("OBMEN_") or name == "OBMEN_STATE_DIR":
            continue
        path = _path(name)
        if ".".join(path) in SECRET_KEYS:
            _put(secret, path, raw)
        else:
            _put(main, path, _typed(dumped, path))
    secrets_file = state_dir / SECRETS
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# The demo's secrets (obmen demo writes this file; mode 600).\n" + dumps(secret))
    os.chmod(secrets_file, 0o600)
    head = {"state_dir": str(state_dir), "secrets_file": str(secrets_file)}
    config = state_dir / CONFIG
    text = "# The demo's obmen (written by obmen demo): obmen run|check|status|sync --config this file.\n"
    config.write_text(text + dumps({**head, **main}), encoding="utf-8")
    return config
