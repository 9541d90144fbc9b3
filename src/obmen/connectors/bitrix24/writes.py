"""Write plans: the batch commands that carry one `Create` or `Update` to Bitrix24.

A plan is a few commands named `o{index}{step}`; later steps refer to the first with
`$result[o{index}a][item][id]` (bitrix24.md §4), so a deal and its product rows, or a company and its
requisite, go out in one request and the rows can never land without their owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from obmen.connectors.base import Create, WriteOp, WriteResult
from obmen.connectors.bitrix24.client import BatchReply, Call
from obmen.connectors.bitrix24.legacy import to_legacy, to_legacy_row
from obmen.connectors.bitrix24.mapping import (
    Pipeline,
    counterparty_id,
    deal_from_order,
    item_from_invoice,
    party_fields,
    rows_from_lines,
    split_party,
)
from obmen.errors import ProtocolError

__all__ = ["OpPlan", "plan"]

_TYPE = {"order": 2, "invoice": 31}
_OWNER = {"order": "D", "invoice": "SI"}
_LEGACY = {"contact": "crm.contact", "company": "crm.company"}
_REQUISITE_OWNER = {"contact": 3, "company": 4}
#: `crm.requisite.preset.list`: 1 is the stock "Организация" preset, 2 "ИП" (bitrix24.md §5.4).
_PRESET = {"company": 1, "contact": 2}


@dataclass(frozen=True, slots=True)
class OpPlan:
    """The commands of one write; `calls[0]` creates or updates the object itself."""

    calls: tuple[Call, ...]
    kind: str  # "item" | "deal" (legacy) | "contact" | "company"
    external_id: str | None = None

    def named(self, index: int) -> dict[str, Call]:
        """The commands under batch names, with `$result` chaining to the first one."""
        first = f"o{index}a"
        out: dict[str, Call] = {}
        for step, (method, params) in enumerate(self.calls):
            out[f"o{index}{chr(ord('a') + step)}"] = (method, _chain(params, first, self.kind))
        return out

    def result(self, op: WriteOp, index: int, reply: BatchReply) -> WriteResult:
        """The op's outcome: the first failing command decides."""
        for step in range(len(self.calls)):
            name = f"o{index}{chr(ord('a') + step)}"
            if name in reply.errors:
                # A later step failed after the object was made: report its id so a retry updates it.
                made = self.external_id
                if made is None and step > 0:
                    made = _created_id(self.kind, reply.results.get(f"o{index}a"))
                return WriteResult(op, external_id=made, error=reply.errors[name])
        if self.external_id is not None:
            return WriteResult(op, external_id=self.external_id)
        return WriteResult(op, external_id=_created_id(self.kind, reply.results.get(f"o{index}a")))


def _chain(params: Mapping[str, Any], first: str, kind: str) -> Mapping[str, Any]:
    ref = f"$result[{first}][item][id]" if kind == "item" else f"$result[{first}]"
    return {
        k: (ref if v == _NEW else _chain(v, first, kind) if isinstance(v, Mapping) else v)
        for k, v in params.items()
    }


#: Placeholder for "the id of the object this plan creates", replaced by a `$result` reference.
_NEW = "\x00new"


def _created_id(kind: str, result: Any) -> str:
    if kind == "item":
        item = result.get("item") if isinstance(result, Mapping) else None
        if not isinstance(item, Mapping) or "id" not in item:
            raise ProtocolError("crm.item.add answered without result.item.id")
        return str(item["id"])
    if result in (None, False, ""):
        raise ProtocolError(f"crm.{kind}.add answered without an id")
    return str(int(result)) if kind == "deal" else counterparty_id(kind, int(result))


def plan(
    op: WriteOp,
    pipeline: Pipeline,
    invoice_category: int,
    current: Mapping[str, Any],
    *,
    legacy: bool = False,
) -> OpPlan:
    """The commands for one write (`legacy`: deals through `crm.deal.*`, bitrix24.md §5.2)."""
    if op.entity == "counterparty":
        return _party_plan(op, current)
    if op.entity == "order" and legacy:
        return _legacy_deal_plan(op, pipeline)
    return _item_plan(op, pipeline, invoice_category)


def _item_plan(op: WriteOp, pipeline: Pipeline, invoice_category: int) -> OpPlan:
    origin = op.canonical_id if isinstance(op, Create) else None
    if op.entity == "order":
        fields = deal_from_order(op.fields, pipeline, origin)
    else:
        fields = item_from_invoice(op.fields, invoice_category, origin)
    type_id = _TYPE[op.entity]
    calls: list[Call] = []
    if isinstance(op, Create):
        calls.append(("crm.item.add", {"entityTypeId": type_id, "fields": fields}))
        owner: Any = _NEW
    else:
        owner = int(op.external_id)
        calls.append(("crm.item.update", {"entityTypeId": type_id, "id": owner, "fields": fields}))
    if "lines" in op.fields or "delivery" in op.fields:
        rows = rows_from_lines(op.fields.get("lines") or [], op.fields.get("delivery"), pipeline)
        # productrow.set replaces every row (bitrix24.md §5.2): the plan always sends the whole set.
        calls.append(
            (
                "crm.item.productrow.set",
                {"ownerType": _OWNER[op.entity], "ownerId": owner, "productRows": rows},
            )
        )
    return OpPlan(tuple(calls), "item", None if isinstance(op, Create) else op.external_id)


def _legacy_deal_plan(op: WriteOp, pipeline: Pipeline) -> OpPlan:
    origin = op.canonical_id if isinstance(op, Create) else None
    fields = to_legacy(deal_from_order(op.fields, pipeline, origin))
    calls: list[Call] = []
    if isinstance(op, Create):
        calls.append(("crm.deal.add", {"fields": fields}))
        owner: Any = _NEW
    else:
        owner = int(op.external_id)
        calls.append(("crm.deal.update", {"id": owner, "fields": fields}))
    if "lines" in op.fields or "delivery" in op.fields:
        rows = rows_from_lines(op.fields.get("lines") or [], op.fields.get("delivery"), pipeline)
        # Like productrow.set, productrows.set replaces every row (bitrix24.md §5.2).
        calls.append(("crm.deal.productrows.set", {"id": owner, "rows": [to_legacy_row(r) for r in rows]}))
    return OpPlan(tuple(calls), "deal", None if isinstance(op, Create) else op.external_id)


def _party_plan(op: WriteOp, current: Mapping[str, Any]) -> OpPlan:
    if isinstance(op, Create):
        kind = "company" if op.fields.get("kind") == "organization" else "contact"
        fields = party_fields(kind, op.fields, None, op.canonical_id)
        calls: list[Call] = [(f"{_LEGACY[kind]}.add", {"fields": fields})]
        if op.fields.get("requisites"):
            calls.append(_requisite_add(kind, _NEW, op.fields))
        return OpPlan(tuple(calls), kind)
    kind, crm_id = split_party(op.external_id)
    row = current.get(f"p{op.external_id}") or {}
    fields = party_fields(kind, op.fields, row, None)
    calls = [(f"{_LEGACY[kind]}.update", {"id": crm_id, "fields": fields})]
    if op.fields.get("requisites"):
        existing = current.get(f"r{op.external_id}") or []
        if existing:
            calls.append(
                ("crm.requisite.update", {"id": existing[0]["ID"], "fields": _requisite_fields(op.fields)})
            )
        else:
            calls.append(_requisite_add(kind, crm_id, op.fields))
    return OpPlan(tuple(calls), kind, op.external_id)


def _requisite_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    req = fields.get("requisites") or {}
    return {"RQ_INN": req.get("inn") or "", "RQ_KPP": req.get("kpp") or "", "RQ_OGRN": req.get("ogrn") or ""}


def _requisite_add(kind: str, owner: Any, fields: Mapping[str, Any]) -> Call:
    body = {
        "ENTITY_TYPE_ID": _REQUISITE_OWNER[kind],
        "ENTITY_ID": owner,
        "PRESET_ID": _PRESET[kind],
        "NAME": str(fields.get("name") or "Реквизиты"),
        **_requisite_fields(fields),
    }
    return ("crm.requisite.add", {"fields": body})
