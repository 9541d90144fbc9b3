"""Run an ASGI app on a real loopback socket in a background thread or process (tests, demo, benchmarks).

Integration tests talk to the sandboxes over real sockets (STYLE §6.13, httpx's `serve_in_thread`);
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

__all__ = ["free_port", "run_in_process", "serve_in_process", "serve_in_thread"]


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
    port = free_port(host)
    with run_in_process(_serve_child, (factory, dict(kwargs), host, port), host, port, start=start):
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def run_in_process(
    target: Callable[..., Any], args: tuple[Any, ...], host: str, port: int, *, start: float = 30.0
) -> Iterator[None]:
    """Run `target(*args)` in a spawned process until it listens on `host:port`; SIGTERM it on exit."""
    child = multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True)
    child.start()
    deadline = time.monotonic() + start
    try:
        while not _listening(host, port):
            if not child.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{getattr(target, '__name__', target)} on {host}:{port} did not start")
            time.sleep(0.05)
        yield
    finally:
        child.terminate()
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join()


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
