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


@pytest.mark.parametrize("command", ["run", "serve"])
def test_an_open_address_without_an_admin_token_is_refused_with_one_line(
    tmp_path: Path, command: str
) -> None:
    env = {
        **os.environ,
        "OBMEN_STATE_DIR": str(tmp_path),
        "OBMEN_WEB__HOST": "0.0.0.0",
        "OBMEN_ONEC__LOGIN": "1c",
        "OBMEN_ONEC__PASSWORD": "pw",
    }
    env.pop("OBMEN_WEB__ADMIN_TOKEN", None)
    done = subprocess.run(_obmen(command), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("obmen: web.host = '0.0.0.0' without web.admin_token")


def test_the_exposure_rule() -> None:
    from pydantic import SecretStr

    from obmen.config.settings import WebSettings, exposure

    assert exposure(WebSettings()) is None  # 127.0.0.1 by default
    assert exposure(WebSettings(host="::1")) is None
    assert exposure(WebSettings(host="localhost")) is None
    assert exposure(WebSettings(host="0.0.0.0")) is not None
    assert exposure(WebSettings(host="192.0.2.10")) is not None
    assert exposure(WebSettings(host="0.0.0.0", admin_token=SecretStr("t" * 32))) is None


def test_status_in_a_fresh_folder_says_in_one_line_what_to_run(tmp_path: Path) -> None:
    env = {**os.environ, "OBMEN_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(_obmen("status"), env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "run `obmen db upgrade`" in done.stderr
    # Nothing was created on the way: the database is for `obmen db upgrade` to make.
    assert not (tmp_path / "state" / "obmen.db").exists()


def test_run_migrates_a_fresh_database_itself_and_says_so_once(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "OBMEN_STATE_DIR": str(tmp_path), "OBMEN_WEB__PORT": str(port)}
    process = subprocess.Popen(
        _obmen("run"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(process.communicate(timeout=5)[1].decode(errors="replace"))
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    text = err.decode(errors="replace")
    assert ready.json()["status"] == "ready"
    assert text.count("database migrated to revision") == 1
    assert "Traceback" not in text
    status = subprocess.run(
        _obmen("status"), env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert status.returncode == 0, status.stderr


def test_version_and_help_are_plain_and_wide() -> None:
    version = subprocess.run(_obmen("--version"), capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.startswith("obmen 0.")
    for command in (["--help"], ["status", "--help"], ["demo", "--help"], ["check", "--help"]):
        shown = subprocess.run(_obmen(*command), capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "<bool>" not in shown.stdout
        assert "╭" not in shown.stdout
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    status = subprocess.run(_obmen("status", "--help"), env=env, capture_output=True, text=True, timeout=60)
    # Piped help is not folded at 80 columns: the --timeline help stays on one line.
    assert any(len(line) > 80 and "--timeline" in line for line in status.stdout.splitlines())
