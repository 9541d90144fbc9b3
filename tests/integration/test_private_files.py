"""Customer data and credentials are readable by obmen's user only (issue 13, row 7)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import sqlalchemy as sa

from obmen.app.runtime import build_runtime
from obmen.config.load import load_settings
from obmen.connectors.bitrix24.client.auth import TokenFile, Tokens
from obmen.demo.stack import Stack, _stack
from obmen.store.database import upgrade


def _mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


async def test_state_database_tokens_and_exchange_folder_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: it must not decide
    try:
        state = tmp_path / "state"
        env = {
            "OBMEN_STATE_DIR": str(state),
            "OBMEN_ONEC__LOGIN": "1c",
            "OBMEN_ONEC__PASSWORD": "secret",
            "OBMEN_BITRIX24__MODE": "app",
            "OBMEN_BITRIX24__PORTAL": "http://127.0.0.1:9",
            "OBMEN_BITRIX24__CLIENT_ID": "local.app",
            "OBMEN_BITRIX24__CLIENT_SECRET": "s" * 16,
        }
        settings = load_settings(None, env=env)
        await asyncio.to_thread(upgrade, str(settings.database.url))
        runtime = await build_runtime(settings)
        try:
            async with runtime.db.begin() as conn:
                await conn.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
                await conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
            await TokenFile(state / "bitrix24-tokens.json").save(Tokens("a", "r", "http://127.0.0.1:9/rest/"))
            assert _mode(state) == "0o700"
            assert _mode(state / "exchange") == "0o700"
            assert (state / "obmen.db-wal").exists()  # WAL mode: SQLite made it with the database's mode
            assert {_mode(p) for p in state.glob("obmen.db*")} == {"0o600"}
            assert _mode(state / "bitrix24-tokens.json") == "0o600"
        finally:
            await runtime.aclose()
    finally:
        os.umask(old)


async def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "obmen.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    await asyncio.to_thread(upgrade, f"sqlite:///{database}")
    assert _mode(database) == "0o600"


async def test_endpoints_json_is_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        stack = Stack("http://o", "http://b", "http://s", "http://1", "1c", "pw", "site", "pw2", runtime=None)
        await _stack(tmp_path, stack)
    finally:
        os.umask(old)
    path = tmp_path / "endpoints.json"
    assert _mode(path) == "0o600"
    assert json.loads(path.read_text(encoding="utf-8"))["onec_exchange"]["password"] == "pw"
