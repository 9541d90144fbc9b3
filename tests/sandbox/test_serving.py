"""A sandbox served from a process of its own (the flows benchmark's way) answers, then goes away."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx

from obmen_sandbox.serving import serve_in_process
from obmen_sandbox.site import SiteSandbox


def _refused(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((parts.hostname or "", parts.port or 0)) != 0


def test_a_sandbox_in_its_own_process_serves_until_the_block_ends() -> None:
    with serve_in_process(SiteSandbox, {"login": "obmen", "password": "pw"}) as url:
        reply = httpx.get(f"{url}/_sandbox/products", timeout=10)
        assert reply.status_code == 200
        assert reply.json()["total"] == 0  # a fresh storefront, built in the child from the kwargs
    assert _refused(url)
