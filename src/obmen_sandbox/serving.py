"""Run an ASGI app on a real loopback socket in a background thread or process (tests, demo, benchmarks).

Integration tests talk to the sandboxes over real sockets (as httpx's own tests do with `serve_in_thread`);
this is the one place that knows how to start and stop uvicorn that way. A benchmark serves them from
processes of their own (`serve_in_process`): in production the portal, the site and 1C do not share
obmen's interpreter lock, so a benchmark whose sandboxes did would measure their CPU as obmen's latency.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import uvicorn

__all__ = ["Child", "free_port", "run_in_process", "serve_in_process", "serve_in_thread", "spawn_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        # The thread is not the main thread; signals belong to whoever runs the tests or the demo.
        return None


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    tls: tuple[str, str] | None = None,
) -> Iterator[str]:
    """Serve `app` on `host:port` (a free port by default) and yield its base URL without a trailing slash.

    `tls` is (certificate file, key file): some public clients (the official Bitrix24 SDKs) refuse
    anything but HTTPS, and the fidelity tests must let them talk to the sandbox all the same.
    """
    port = port or free_port(host)
    certfile, keyfile = tls or (None, None)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="auto",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"server on {host}:{port} did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _serve_child(factory: Callable[..., Any], kwargs: Mapping[str, Any], host: str, port: int) -> None:
    sandbox = factory(**kwargs)
    uvicorn.Server(uvicorn.Config(sandbox.app, host=host, port=port, log_level="warning")).run()


@contextlib.contextmanager
def serve_in_process(
    factory: Callable[..., Any], kwargs: Mapping[str, Any], host: str = "127.0.0.1", *, start: float = 30.0
) -> Iterator[str]:
    """Serve `factory(**kwargs).app` from a fresh process and yield its base URL; stop it on exit.

    `factory` and `kwargs` must pickle (a sandbox class and plain settings): the process is spawned,
    not forked, so it inherits no event loop, thread or socket of the caller's.
    """
    with spawn_server(factory, kwargs, host, start=start) as (url, _):
        yield url


@contextlib.contextmanager
def spawn_server(
    factory: Callable[..., Any], kwargs: Mapping[str, Any], host: str = "127.0.0.1", *, start: float = 30.0
) -> Iterator[tuple[str, int]]:
    """`serve_in_process`, yielding the base URL and the process id (a supervisor shows and watches it)."""
    port = free_port(host)
    with run_in_process(_serve_child, (factory, dict(kwargs), host, port), host, port, start=start) as pid:
        yield f"http://{host}:{port}", pid


class Child:
    """A spawned process serving on `host:port`: started, watched and stopped by its supervisor."""

    def __init__(self, target: Callable[..., Any], args: tuple[Any, ...], host: str, port: int) -> None:
        self.target, self.args, self.host, self.port = target, args, host, port
        self._process: Any = None

    def start(self, timeout: float = 30.0) -> int:
        """Spawn the process and return its pid once it listens."""
        child = multiprocessing.get_context("spawn").Process(target=self.target, args=self.args, daemon=True)
        child.start()
        self._process = child
        deadline = time.monotonic() + timeout
        while not _listening(self.host, self.port):
            if not child.is_alive() or time.monotonic() > deadline:
                self.stop()
                name = getattr(self.target, "__name__", self.target)
                raise RuntimeError(f"{name} on {self.host}:{self.port} did not start")
            time.sleep(0.05)
        return int(child.pid or 0)

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        """Whether the process runs."""
        return self._process is not None and bool(self._process.is_alive())

    @property
    def exitcode(self) -> int | None:
        """How the process ended (negative: the signal that killed it)."""
        return None if self._process is None else self._process.exitcode

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        child = self._process
        if child is None:
            return
        child.terminate()
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join()


@contextlib.contextmanager
def run_in_process(
    target: Callable[..., Any], args: tuple[Any, ...], host: str, port: int, *, start: float = 30.0
) -> Iterator[int]:
    """Run `target(*args)` in a spawned process until it listens on `host:port`; yield its pid; SIGTERM it
    on exit."""
    child = Child(target, args, host, port)
    try:
        yield child.start(start)
    finally:
        child.stop()


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
