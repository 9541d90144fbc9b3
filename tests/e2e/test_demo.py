"""`obmen demo` as a person runs it: each part in a process of its own, its configuration usable by every
command, obmen restarted when it dies, a running demo resumed rather than wiped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from demo_process import alive, clean_env, endpoints, obmen, parts_gone, start, stop, wait_for

pytestmark = pytest.mark.slow


def test_the_demo_runs_supervised_processes_whose_configuration_every_command_uses(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    log = tmp_path / "demo.log"
    env = clean_env()
    demo = start(state, log, env=env)
    try:
        shown = log.read_text(encoding="utf-8")
        # --no-activity loads the catalog, as its help says.
        assert "products in Bitrix24" in shown
        shown_endpoints = endpoints(state)
        pids = shown_endpoints["pids"]
        assert set(pids) == {"obmen", "bitrix24", "site", "onec"}
        assert len(set(pids.values()) | {demo.pid}) == 5, pids
        assert all(alive(p) for p in pids.values())
        assert (state / "secrets.toml").stat().st_mode & 0o777 == 0o600
        assert (state / "endpoints.json").stat().st_mode & 0o777 == 0o600
        config = shown_endpoints["config"]

        checked = subprocess.run(
            obmen("check", "--config", config), env=env, capture_output=True, text=True, timeout=120
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # The default demo runs the push paths, and the check covers them.
        assert (shown_endpoints["site"]["mode"], shown_endpoints["onec"]["mode"]) == ("rest", "odata")
        for line in ("REST webhook", "webhook scopes", "OData login", "published objects", "ObmenPing"):
            assert line in checked.stdout, checked.stdout
        status = subprocess.run(
            obmen("status", "--json", "--config", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        synced = subprocess.run(
            obmen("sync", "--full", "product", "--json", "--config", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert synced.returncode == 0, synced.stderr
        load = json.loads(synced.stdout.splitlines()[-1])
        assert load["finished"]
        assert load["total"] > 0
        progress = httpx.get(f"{shown_endpoints['obmen']['url']}/api/progress", timeout=10).json()
        assert progress["loads"][0]["name"] == load["name"]

        # obmen dies: the demo restarts it on the same state and says so.
        os.kill(pids["obmen"], signal.SIGKILL)
        wait_for(lambda: endpoints(state)["pids"]["obmen"] != pids["obmen"], "restart", demo)
        assert "restarting it on the same state" in log.read_text(encoding="utf-8")
        ready = httpx.get(f"{shown_endpoints['obmen']['url']}/readyz", timeout=10)
        assert ready.json()["status"] == "ready"
        again = subprocess.run(
            obmen("status", "--json", "--config", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(again.stdout)["parked"]["total"] == 0

        # The same --state-dir while it runs: resumed, not wiped; --fresh is refused.
        resumed = subprocess.run(
            obmen("demo", "--state-dir", str(state), "--no-activity"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming it" in resumed.stdout
        assert (state / "obmen.db").exists()
        fresh = subprocess.run(
            obmen("demo", "--state-dir", str(state), "--fresh"), env=env, capture_output=True, text=True
        )
        assert fresh.returncode == 2
        assert "stop it first" in fresh.stderr
    finally:
        stop(demo)
    parts_gone(endpoints(state)["pids"])


def test_a_stopped_demo_starts_anew_in_its_folder_and_says_why(tmp_path: Path) -> None:
    """A stopped demo's folder: its processes are gone, its files stay; the next demo there replaces it."""
    state = tmp_path / "demo"
    state.mkdir(mode=0o700)
    # What a demo leaves when it stops: its endpoints.json (naming a process that is gone), its store.
    gone = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        ).stdout
    )
    stopped = {"obmen": {"url": "http://127.0.0.1:9"}, "pids": {"obmen": gone}}
    (state / "endpoints.json").write_text(json.dumps(stopped), encoding="utf-8")
    (state / "obmen.db").write_bytes(b"what the stopped demo's obmen knew")
    log = tmp_path / "demo.log"
    demo = start(state, log)
    try:
        shown = log.read_text(encoding="utf-8")
        assert f"(obmen pid {gone} is gone): starting anew in the same folder" in shown
        assert "демо в" in shown
        assert "kept their data in memory only" in shown
        shown_endpoints = endpoints(state)
        assert shown_endpoints["pids"]["obmen"] != gone
        url = shown_endpoints["obmen"]["url"]
        assert httpx.get(f"{url}/readyz", timeout=10).json()["status"] == "ready"
        assert (state / "obmen.db").read_bytes() != b"what the stopped demo's obmen knew"
    finally:
        stop(demo)
    # Stopped again: with --fresh the line says it was asked to.
    fresh = start(state, log, "--fresh")
    parts = endpoints(state)["pids"]
    # SIGTERM (a service manager's stop) stops it as Ctrl+C does, its parts with it.
    stop(fresh, signal.SIGTERM)
    parts_gone(parts)
    assert "starting anew in the same folder (--fresh)" in log.read_text(encoding="utf-8")
