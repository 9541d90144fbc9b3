"""Run an ASGI app on a real loopback socket in a background thread (tests, demo, benchmarks).

Integration tests talk to the sandboxes over real sockets (STYLE §6.13, httpx's `serve_in_thread`);
this is the one place that knows how to start and stop uvicorn that way.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["free_port", "serve_in_thread"]


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
