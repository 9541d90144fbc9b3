"""Serving processes run on uvloop where it is installed (app/loop.py), on asyncio's loop otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

from obmen.app import loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not a dependency on Windows")
def test_a_serving_process_runs_on_uvloop() -> None:
    assert loop.run(_loop_module()).startswith("uvloop")


def test_without_uvloop_it_is_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    assert loop.loop_factory() is None
    assert loop.run(_loop_module()).startswith("asyncio")
