"""Write plans packed into `batch` requests of up to 50 commands (docs/protocols/bitrix24.md §4).

A plan whose later commands refer to its first (`$result[...]`: a create and its rows) travels whole in
one batch, since a reference reaches only into its own batch. An update's commands refer to nothing, so
its deal part (the deal and its rows) and its invoice part (the invoice and its rows) may go in different
batches: requests are filled to 50 commands instead of stopping at the last whole plan. The two commands
of one object stay together, so that concurrent batches never write one object at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT, BatchReply, Call
from obmen.connectors.bitrix24.crm.writes import OpPlan, Step

__all__ = ["merged", "pack"]


def _chained(params: Mapping[str, Any]) -> bool:
    return any(isinstance(v, Step) or (isinstance(v, Mapping) and _chained(v)) for v in params.values())


def _object(call: Call) -> str:
    """Which object of an order a command writes: its deal or its invoice."""
    _, params = call
    return "invoice" if params.get("entityTypeId") == 31 or params.get("ownerType") == "SI" else "deal"


def groups(index: int, plan: OpPlan) -> list[dict[str, Call]]:
    """The plan's commands under batch names, in the parts that must share a batch."""
    named = plan.named(index)
    if plan.kind != "item" or any(_chained(params) for _, params in plan.calls):
        return [named] if named else []
    out: dict[str, dict[str, Call]] = {}
    for (name, call), raw in zip(named.items(), plan.calls, strict=True):
        out.setdefault(_object(raw), {})[name] = call
    return list(out.values())


def pack(plans: Sequence[tuple[int, OpPlan]]) -> list[tuple[dict[str, Call], set[int]]]:
    """Batches of at most `BATCH_LIMIT` commands, each with the op indexes it carries commands of."""
    batches: list[tuple[dict[str, Call], set[int]]] = []
    calls: dict[str, Call] = {}
    indexes: set[int] = set()
    for index, plan in plans:
        for group in groups(index, plan):
            if calls and len(calls) + len(group) > BATCH_LIMIT:
                batches.append((calls, indexes))
                calls, indexes = {}, set()
            calls.update(group)
            indexes.add(index)
    if calls:
        batches.append((calls, indexes))
    return batches


def merged(replies: Sequence[BatchReply]) -> BatchReply:
    """One reply holding the answers of several batches (their command names never repeat)."""
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for reply in replies:
        results.update(reply.results)
        errors.update(reply.errors)
    return BatchReply(results, errors, {}, {})
