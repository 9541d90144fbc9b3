"""Request/response examples from the official docs, replayed against the sandbox: shapes must be equal.

The examples live in `doc_examples.json` (responses copied verbatim from `bitrix24/b24restdocs`, each
with its page; requests adapted to the sandbox's portal where the entry says so). The sandbox is driven
in process over ASGI; `fidelity_shapes.shape_diff` names every missing key and every wrong JSON type.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fidelity_shapes import shape_diff
from fidelity_support import WEBHOOK

from obmen_sandbox.bitrix24 import Bitrix24Sandbox

DATA = json.loads((Path(__file__).parent / "doc_examples.json").read_text(encoding="utf-8"))
EXAMPLES: list[dict[str, Any]] = DATA["examples"]


def _examples() -> list[Any]:
    """One pytest param per example; a known sandbox discrepancy is a strict xfail naming its evidence."""
    seen: dict[str, int] = {}
    params = []
    for example in EXAMPLES:
        count = seen[example["method"]] = seen.get(example["method"], 0) + 1
        name = example["method"] if count == 1 else f"{example['method']}-{count}"
        marks = [pytest.mark.xfail(strict=True, reason=example["xfail"])] if "xfail" in example else []
        params.append(pytest.param(example, id=name, marks=marks))
    return params


def test_at_least_twenty_methods_are_replayed() -> None:
    methods = {example["method"] for example in EXAMPLES}
    assert len(methods) >= 20, sorted(methods)
    assert all(example["doc"].endswith(".md") for example in EXAMPLES)


@pytest.mark.parametrize("example", _examples())
async def test_docs_example_has_the_same_shape(example: dict[str, Any]) -> None:
    sandbox = Bitrix24Sandbox(webhook=WEBHOOK, limits="off")
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as client:
        if "seed" in example:
            # The portal's employees etc., through the sandbox's control API (issue 3, §1 "Control API").
            seeded = await client.post("/_sandbox/seed", json=example["seed"])
            assert seeded.status_code == 200, seeded.text
        saved: dict[str, Any] = {}
        for step in example["setup"]:
            body = await _call(client, step["method"], _substitute(step["params"], saved))
            assert "error" not in body, f"setup {step['method']} failed: {body}"
            for name, path in step["save"].items():
                saved[name] = resolve(body, path)
        request = _substitute(example["request"], saved)
        response = await client.post(f"/rest/{WEBHOOK}/{example['method']}", json=request)
    status = example.get("status", 200)
    assert response.status_code == status, (
        f"{example['method']}: HTTP {response.status_code}: {response.text}"
    )
    answer = response.json()
    problems = shape_diff(
        example["response"],
        answer,
        ignore=example.get("ignore", ()),
        nullable=example.get("nullable", ()),
        optional=example.get("optional", ()),
    )
    # Error codes and messages are protocol, not data: where listed, they must match the docs exactly.
    problems += [
        f"$.{key}: docs {example['response'][key]!r}, sandbox {answer.get(key)!r}"
        for key in example.get("same_values", ())
        if answer.get(key) != example["response"][key]
    ]
    assert not problems, f"{example['method']} differs from {DATA['source']} {example['doc']}:\n" + "\n".join(
        problems
    )


async def _call(client: httpx.AsyncClient, method: str, params: Any) -> dict[str, Any]:
    response = await client.post(f"/rest/{WEBHOOK}/{method}", json=params)
    body: dict[str, Any] = response.json()
    return body


def _substitute(value: Any, saved: dict[str, Any]) -> Any:
    """Replace every `"$name"` string with the id a setup call saved under `name`."""
    if isinstance(value, dict):
        return {key: _substitute(item, saved) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, saved) for item in value]
    if isinstance(value, str) and value.startswith("$") and value[1:] in saved:
        return saved[value[1:]]
    return value


def resolve(body: Any, path: str) -> Any:
    """Follow `result.catalogs[!productIblockId].iblockId`; `a|b` tries `a` then `b`.

    `[n]` is a list index, `[key]` the first element whose `key` is set, `[!key]` the first whose is not.
    """
    failures = []
    for alternative in path.split("|"):
        try:
            return _follow(body, alternative)
        except (KeyError, IndexError, TypeError, StopIteration) as error:
            failures.append(f"{alternative}: {error!r}")
    raise AssertionError(f"cannot follow {path} in {body}: {failures}")


def _follow(body: Any, path: str) -> Any:
    value = body
    for name, selector in re.findall(r"([^.\[\]]+)?(?:\[([^\]]*)\])?\.?", path):
        if name:
            value = value[name]
        if not selector:
            continue
        if selector.isdigit():
            value = value[int(selector)]
        elif selector.startswith("!"):
            value = next(item for item in value if not item.get(selector[1:]))
        else:
            value = next(item for item in value if item.get(selector))
    return value
