"""`obmen run` serves what the configuration names; `obmen worker` refuses to run with nothing to sync."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from obmen_sandbox.serving import free_port


def _obmen(*args: str) -> list[str]:
    return [sys.executable, "-m", "obmen", *args]


def test_run_serves_the_1c_endpoint_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_WEB__PORT": str(port),
        "OBMEN_ONEC__LOGIN": "1c",
        "OBMEN_ONEC__PASSWORD": "pw",
    }
    subprocess.run(_obmen("db", "upgrade"), env=env, check=True, capture_output=True)
    process = subprocess.Popen(_obmen("run"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(process.communicate(timeout=5)[1].decode(errors="replace"))
                time.sleep(0.1)
        login = httpx.get(f"{base}/exchange/1c?type=catalog&mode=checkauth", auth=("1c", "pw"))
        wrong = httpx.get(f"{base}/exchange/1c?type=catalog&mode=checkauth", auth=("1c", "no"))
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert ready.json()["status"] == "ready"
    assert login.text.splitlines()[0] == "success"
    assert wrong.text.splitlines()[0] == "failure"
    assert process.returncode == 0, err.decode(errors="replace")


def test_worker_without_any_system_says_what_to_configure(tmp_path: Path) -> None:
    env = {**os.environ, "OBMEN_STATE_DIR": str(tmp_path)}
    done = subprocess.run(_obmen("worker"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "configure [onec], [site] or [bitrix24]" in done.stderr
