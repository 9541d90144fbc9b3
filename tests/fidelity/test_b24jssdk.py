"""The official JS SDK @bitrix24/b24jssdk (npm, pinned in js/package-lock.json) calls the sandbox.

`B24Hook.fromWebhookUrl` refuses anything but HTTPS, so the sandbox is served with the throwaway
certificate and node trusts it through `NODE_EXTRA_CA_CERTS`. The SDK POSTs JSON to
`/rest/USER/TOKEN/<method>?bx24_request_id=…&bx24_sdk_ver=…&bx24_sdk_type=b24-js-sdk`.
Needs `npm ci` in tests/fidelity/js first (the Makefile does it); a missing node or package FAILS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import httpx
from fidelity_support import JS_DIR, Served


def _node_call(served: Served, url: str, method: str, params: Any) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node (>= 20) is required for the official JS SDK fidelity test"
    assert (JS_DIR / "node_modules" / "@bitrix24" / "b24jssdk").is_dir(), (
        f"run `npm ci --prefix {JS_DIR}` first: @bitrix24/b24jssdk is not installed"
    )
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": served.cert}
    done = subprocess.run(
        [node, "call.mjs", url, method, json.dumps(params)],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout, f"node printed nothing; stderr: {done.stderr}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_js_sdk_lists_deals_through_the_webhook(served: Served) -> None:
    with httpx.Client(verify=served.ssl_context()) as raw:
        for number in range(3):
            raw.post(served.webhook_url + "crm.deal.add", json={"fields": {"TITLE": f"JS deal {number}"}})
    params = {"select": ["ID", "TITLE"], "filter": {"%TITLE": "JS deal"}, "order": {"ID": "ASC"}}
    answer = _node_call(served, served.webhook_url, "crm.deal.list", params)
    assert answer["ok"] is True, answer
    assert [deal["TITLE"] for deal in answer["data"]["result"]] == ["JS deal 0", "JS deal 1", "JS deal 2"]
    assert answer["total"] == 3


def test_js_sdk_sees_a_wrong_webhook_code_as_an_auth_error(served: Served) -> None:
    wrong = served.webhook_url.replace("fidelitytoken", "wrongtoken")
    answer = _node_call(served, wrong, "user.current", {})
    assert answer["ok"] is False
    assert "NO_AUTH_FOUND" in json.dumps(answer), answer


def test_js_sdk_batch_sends_cmd_as_an_array_and_chains_results(served: Served) -> None:
    """The SDK's batch sends `cmd` as a JSON array of `method?query` strings (qs-encoded, so `&` is %26)."""
    calls = [
        ["crm.deal.add", {"fields": {"TITLE": "Tom & Jerry", "OPPORTUNITY": 10}}],
        ["crm.deal.get", {"id": "$result[0]"}],
    ]
    answer = _node_call(served, served.webhook_url, "batch", calls)
    assert answer["ok"] is True, answer
    deal_id, deal = answer["data"]
    assert isinstance(deal_id, int)
    assert (deal["ID"], deal["TITLE"], deal["OPPORTUNITY"]) == (str(deal_id), "Tom & Jerry", "10.00")
