"""Fidelity tests: public Bitrix24 clients drive our sandbox over real sockets (issue 3, "Done means")."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from fidelity_support import WEBHOOK, Served

from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.serving import serve_in_thread


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1: the official SDKs insist on HTTPS."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to serve the sandbox over HTTPS for the official SDKs")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def served(tls_cert: tuple[str, str]) -> Iterator[Served]:
    """A fresh portal with cloud limits (2/s, burst 50; `time.operating` reported) over real HTTPS.

    Each test stays inside the burst, so the clients' own pacing is exercised but never waited on.
    """
    sandbox = Bitrix24Sandbox(webhook=WEBHOOK, limits="cloud")
    with serve_in_thread(sandbox.app, tls=tls_cert) as base_url:
        yield Served(sandbox=sandbox, base_url=base_url, cert=tls_cert[0])
