"""`obmen demo` as a person runs it: each part in a process of its own, its configuration usable by every
command, obmen restarted when it dies, a running demo resumed rather than wiped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def _obmen(*args: str) -> list[str]:
    return [sys.executable, "-m", "obmen", *args]


def _endpoints(state: Path) -> dict[str, Any]:
    return dict(json.loads((state / "endpoints.json").read_text(encoding="utf-8")))


def _wait(predicate: Any, what: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"the demo ended before {what}: {process.communicate()[0]}")
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_demo_runs_supervised_processes_whose_configuration_every_command_uses(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBMEN_")}
    with log.open("w", encoding="utf-8") as out:
        demo = subprocess.Popen(
            _obmen("demo", "--state-dir", str(state), "--no-activity"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait(lambda: "running;" in log.read_text(encoding="utf-8"), "running stack", demo)
        shown = log.read_text(encoding="utf-8")
        # --no-activity loads the catalog, as its help says.
        assert "products in Bitrix24" in shown
        endpoints = _endpoints(state)
        pids = endpoints["pids"]
        assert set(pids) == {"obmen", "bitrix24", "site", "onec"}
        assert len(set(pids.values()) | {demo.pid}) == 5, pids
        assert all(_alive(p) for p in pids.values())
        assert (state / "secrets.toml").stat().st_mode & 0o777 == 0o600
        assert (state / "endpoints.json").stat().st_mode & 0o777 == 0o600
        config = endpoints["config"]

        checked = subprocess.run(
            _obmen("check", "--config", config), env=env, capture_output=True, text=True, timeout=120
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # The default demo runs the push paths, and the check covers them.
        assert (endpoints["site"]["mode"], endpoints["onec"]["mode"]) == ("rest", "odata")
        for line in ("REST webhook", "webhook scopes", "OData login", "published objects", "ObmenPing"):
            assert line in checked.stdout, checked.stdout
        status = subprocess.run(
            _obmen("status", "--json", "--config", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        synced = subprocess.run(
            _obmen("sync", "--full", "product", "--json", "--config", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert synced.returncode == 0, synced.stderr
        load = json.loads(synced.stdout.splitlines()[-1])
        assert load["finished"]
        assert load["total"] > 0
        progress = httpx.get(f"{endpoints['obmen']['url']}/api/progress", timeout=10).json()
        assert progress["loads"][0]["name"] == load["name"]

        # obmen dies: the demo restarts it on the same state and says so.
        os.kill(pids["obmen"], signal.SIGKILL)
        _wait(lambda: _endpoints(state)["pids"]["obmen"] != pids["obmen"], "restart", demo)
        assert "restarting it on the same state" in log.read_text(encoding="utf-8")
        ready = httpx.get(f"{endpoints['obmen']['url']}/readyz", timeout=10)
        assert ready.json()["status"] == "ready"
        again = subprocess.run(
            _obmen("status", "--json", "--config", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert json.loads(again.stdout)["parked"]["total"] == 0

        # The same --state-dir while it runs: resumed, not wiped; --fresh is refused.
        resumed = subprocess.run(
            _obmen("demo", "--state-dir", str(state), "--no-activity"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr
        assert "resuming it" in resumed.stdout
        assert (state / "obmen.db").exists()
        fresh = subprocess.run(
            _obmen("demo", "--state-dir", str(state), "--fresh"), env=env, capture_output=True, text=True
        )
        assert fresh.returncode == 2
        assert "stop it first" in fresh.stderr
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=60)
    parts = _endpoints(state)["pids"]
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in parts.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in parts.values()), parts


def _start(state: Path, log: Path, env: dict[str, str], *flags: str) -> subprocess.Popen[str]:
    """`obmen demo --state-dir state --no-activity [flags]`, its output in `log`, once its stack runs."""
    with log.open("w", encoding="utf-8") as out:
        demo = subprocess.Popen(
            _obmen("demo", "--state-dir", str(state), "--no-activity", *flags),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    _wait(lambda: "running;" in log.read_text(encoding="utf-8"), "running stack", demo)
    return demo


def _stop(demo: subprocess.Popen[str]) -> None:
    demo.send_signal(signal.SIGINT)
    demo.wait(timeout=60)


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
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBMEN_")}
    log = tmp_path / "demo.log"
    demo = _start(state, log, env)
    try:
        shown = log.read_text(encoding="utf-8")
        assert f"(obmen pid {gone} is gone): starting anew in the same folder" in shown
        assert "демо в" in shown
        assert "kept their data in memory only" in shown
        endpoints = _endpoints(state)
        assert endpoints["pids"]["obmen"] != gone
        assert httpx.get(f"{endpoints['obmen']['url']}/readyz", timeout=10).json()["status"] == "ready"
        assert (state / "obmen.db").read_bytes() != b"what the stopped demo's obmen knew"
    finally:
        _stop(demo)
    # Stopped again: with --fresh the line says it was asked to.
    fresh = _start(state, log, env, "--fresh")
    _stop(fresh)
    assert "starting anew in the same folder (--fresh)" in log.read_text(encoding="utf-8")
