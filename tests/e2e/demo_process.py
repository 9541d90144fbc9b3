"""`obmen demo` in a process of its own, started and stopped as a person or a CI runner would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

#: Start a command with SIGINT ignored, as a shell without job control starts a background job (a CI
#: runner's way): the demo must still stop on SIGINT and SIGTERM.
_IGNORING_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def obmen(*args: str) -> list[str]:
    """The command line of `obmen ARGS` in this interpreter."""
    return [sys.executable, "-m", "obmen", *args]


def clean_env() -> dict[str, str]:
    """This process's environment without any `OBMEN_…` setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OBMEN_")}


def endpoints(state: Path) -> dict[str, Any]:
    """The demo's `endpoints.json`."""
    return dict(json.loads((state / "endpoints.json").read_text(encoding="utf-8")))


def alive(pid: int) -> bool:
    """Whether process `pid` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(predicate: Any, what: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    """Poll `predicate` until true; fail if `process` ends first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            pytest.fail(f"the demo ended before {what}: {process.communicate()[0]}")
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.2)


def start(state: Path, log: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`obmen demo --state-dir state --no-activity [flags]` with SIGINT ignored, in its own session, its
    output in `log`; returned once its stack runs."""
    command = [sys.executable, "-c", _IGNORING_SIGINT, "-m", "obmen", "demo", "--state-dir", str(state)]
    with log.open("w", encoding="utf-8") as out:
        demo = subprocess.Popen(
            [*command, "--no-activity", *flags],
            env=clean_env() if env is None else env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        wait_for(lambda: "running;" in log.read_text(encoding="utf-8"), "running stack", demo)
    except BaseException:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()
        raise
    return demo


def stop(demo: subprocess.Popen[str], how: signal.Signals = signal.SIGINT) -> None:
    """Stop the demo with `how`; one that does not stop in 60 s is killed with its parts and fails."""
    demo.send_signal(how)
    try:
        code = demo.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        demo.wait()
        raise
    assert code == 0, code


def parts_gone(parts: dict[str, int], within: float = 20) -> None:
    """Assert that every process in `parts` ends within `within` seconds."""
    deadline = time.monotonic() + within
    while any(alive(p) for p in parts.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in parts.values()), parts
