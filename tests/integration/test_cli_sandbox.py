"""`obmen sandbox …` starts each emulator on a real port with the options it was given."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from obmen_sandbox.serving import free_port


@contextmanager
def running(*args: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "obmen", "sandbox", *args, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base, timeout=0.5)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    _, err = process.communicate(timeout=5)
                    pytest.fail(f"{command} did not start: {err.decode(errors='replace')}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=10)  # also closes the stderr pipe


def test_bitrix24_sandbox_answers_on_its_webhook_only() -> None:
    with running("bitrix24", "--webhook", "7/clitoken", "--limits", "cloud") as base:
        ok = httpx.post(f"{base}/rest/7/clitoken/crm.deal.add.json", json={"fields": {"TITLE": "cli"}})
        wrong = httpx.post(f"{base}/rest/7/othertoken/crm.deal.list.json", json={})
    assert ok.status_code == 200
    assert isinstance(ok.json()["result"], int)
    assert "operating" in ok.json()["time"]  # cloud limits report the method's operating time
    assert (wrong.status_code, wrong.json()["error"]) == (401, "NO_AUTH_FOUND")


def test_site_sandbox_checks_the_exchange_password() -> None:
    url = "/bitrix/admin/1c_exchange.php?type=catalog&mode=checkauth"
    with running("site", "--login", "shop", "--password", "pw", "--file-limit", "4096", "--no-zip") as base:
        good = httpx.get(base + url, auth=("shop", "pw"))
        bad = httpx.get(base + url, auth=("shop", "nope"))
        cookie = dict(good.cookies)
        init = httpx.get(base + "/bitrix/admin/1c_exchange.php?type=catalog&mode=init", cookies=cookie)
    assert good.text.splitlines()[0] == "success"
    assert bad.text.splitlines()[0] == "failure"
    assert init.text.splitlines()[:2] == ["zip=no", "file_limit=4096"]


def test_onec_sandbox_serves_its_infobase() -> None:
    target = "http://127.0.0.1:9/exchange/1c"  # never called here
    with running("onec", "--target", target, "--login", "1c", "--password", "pw") as base:
        products = httpx.get(f"{base}/_sandbox/products")
    assert products.status_code == 200
    assert products.json()
