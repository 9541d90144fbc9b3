"""Write plans: the batch commands that carry one `Create` or `Update` to Bitrix24.

A plan is a few commands named `o{index}{step}`; later steps refer to the first with
`$result[o{index}a][item][id]` (docs/protocols/bitrix24.md §4), so a deal and its product rows, or a company
and its
requisite, go out in one request and the rows can never land without their owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from obmen.config.mapping import PipelineMap
from obmen.connectors.base import Create, Update, WriteOp, WriteResult
from obmen.connectors.bitrix24.client.rest import BatchReply, Call
from obmen.connectors.bitrix24.crm.fields import (
    PARTY_METHODS,
    REQUISITE_OWNER,
    counterparty_id,
    customer_fields,
    deal_from_order,
    party_fields,
    rows_from_lines,
    split_party,
)
from obmen.connectors.bitrix24.crm.legacy import to_legacy, to_legacy_row
from obmen.connectors.bitrix24.crm.orders import OrderMapping, invoice_item, invoice_state, payment_state
from obmen.connectors.bitrix24.crm.seen import same_rows
from obmen.errors import NotFound, ProtocolError

__all__ = ["OpPlan", "plan"]

#: `crm.requisite.preset.list`: 1 is the stock "Организация" preset, 2 "ИП" (docs/protocols/bitrix24.md §5.4).
_PRESET = {"company": 1, "contact": 2}


@dataclass(frozen=True, slots=True)
class OpPlan:
    """The commands of one write; `calls[0]` creates or updates the object itself."""

    calls: tuple[Call, ...]
    kind: str  # "item" | "deal" (legacy) | "contact" | "company"
    external_id: str | None = None

    def named(self, index: int) -> dict[str, Call]:
        """The commands under batch names, with `$result` chaining to the first one."""
        out: dict[str, Call] = {}
        for step, (method, params) in enumerate(self.calls):
            out[f"o{index}{chr(ord('a') + step)}"] = (method, _chain(params, index, self.kind))
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


def _chain(params: Mapping[str, Any], index: int, kind: str) -> Mapping[str, Any]:
    def ref(value: Any) -> Any:
        if isinstance(value, Step):
            name = f"o{index}{chr(ord('a') + value.step)}"
            return f"$result[{name}][item][id]" if kind == "item" else f"$result[{name}]"
        return _chain(value, index, kind) if isinstance(value, Mapping) else value

    return {k: ref(v) for k, v in params.items()}


@dataclass(frozen=True, slots=True)
class Step:
    """Placeholder for "the id made by command `step` of this plan", replaced by a `$result` reference."""

    step: int = 0


_NEW = Step(0)


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
    mapping: OrderMapping,
    current: Mapping[str, Any],
    *,
    legacy: bool = False,
    delivery_ids: Mapping[str, int] | None = None,
) -> OpPlan:
    """The commands for one write (`legacy`: deals through `crm.deal.*`, docs/protocols/bitrix24.md §5.2)."""
    if op.entity == "counterparty":
        return _party_plan(op, current)
    if op.entity != "order":
        raise ValueError(f"Bitrix24 CRM holds no {op.entity!r} objects")
    deal = current.get(f"d{op.external_id}") if isinstance(op, Update) else None
    if isinstance(op, Update) and deal is None:
        raise NotFound(f"Bitrix24 has no deal {op.external_id}")
    pipeline = (
        mapping.for_category((deal or {}).get("categoryId"))
        if isinstance(op, Update)
        else mapping.for_site(op.fields.get("site"))
    )
    rows = None
    if "lines" in op.fields or "delivery" in op.fields:
        service = (op.fields.get("delivery") or {}).get("service")
        product = (delivery_ids or {}).get(str(service), 0) if service else 0
        rows = rows_from_lines(op.fields.get("lines") or [], op.fields.get("delivery"), product)
    if legacy:
        return _legacy_deal_plan(op, pipeline, rows, mapping)
    return _order_plan(op, pipeline, mapping, current, rows)


def _order_plan(
    op: WriteOp,
    pipeline: PipelineMap,
    mapping: OrderMapping,
    current: Mapping[str, Any],
    rows: list[dict[str, Any]] | None,
) -> OpPlan:
    """Deal, its rows, its smart invoice and the invoice's rows: one chained plan (docs/architecture.md).

    See §4.
    """
    made = op.external_id if isinstance(op, Update) else None
    origin = op.canonical_id if isinstance(op, Create) else None
    fields = deal_from_order(op.fields, pipeline, origin, mapping.properties, mapping.managers)
    calls: list[Call] = []
    if made is None:
        calls.append(("crm.item.add", {"entityTypeId": 2, "fields": fields}))
        owner: Any = _NEW
    else:
        owner = int(made)
        if fields:  # only the invoice may change (a payment): the deal is left alone
            calls.append(("crm.item.update", {"entityTypeId": 2, "id": owner, "fields": fields}))
    invoice = current.get(f"i{made}") if made is not None else None
    # Rows as they stand already are not set again (seen.py); the invoice's follow the deal's, so they
    # are left too, unless the invoice is new.
    unchanged = made is not None and rows is not None and same_rows(rows, current.get(f"rows{made}"))
    if rows is not None and not unchanged:
        # productrow.set replaces every row (docs/protocols/bitrix24.md §5.2): the plan always sends the whole
        # set.
        calls.append(("crm.item.productrow.set", {"ownerType": "D", "ownerId": owner, "productRows": rows}))
    client = customer_fields(op.fields["customer"]) if "customer" in op.fields else None
    if invoice is None:
        # A new order, or a deal without its invoice (made in the CRM): the invoice is made now.
        state = (_paid(op.fields, None, mapping), _cancelled(op.fields, None, mapping))
        body = invoice_item(op.fields, mapping, deal=owner, client=client, state=state, new=True)
        if made is not None and not op.fields.get("number"):
            # A deal a manager built has no order number yet: the order it becomes is numbered after it,
            # in a form no site order takes (orders are matched by number, docs/architecture.md §2.4).
            body.update({"accountNumber": f"CRM-{made}", "title": f"Счёт к заказу №CRM-{made}"})
        calls.append(("crm.item.add", {"entityTypeId": 31, "fields": body}))
        if rows is not None:
            new = Step(len(calls) - 1)
            calls.append(
                ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": new, "productRows": rows})
            )
        return OpPlan(tuple(calls), "item", made)
    # The invoice's stages are those of the pipeline it is in (`DT31_{category}:…`, docs/protocols/bitrix24.md
    # §5.3).
    category = int(invoice.get("categoryId") or mapping.invoice.category_id)
    mapping = replace(mapping, invoice=mapping.invoice.model_copy(update={"category_id": category}))
    changed: tuple[bool, bool] | None = None
    if "payments" in op.fields or "cancelled" in op.fields:
        changed = (_paid(op.fields, invoice, mapping), _cancelled(op.fields, invoice, mapping))
    body = invoice_item(op.fields, mapping, deal=owner, client=client, state=changed, new=False)
    if body:
        calls.append(("crm.item.update", {"entityTypeId": 31, "id": int(invoice["id"]), "fields": body}))
    if rows is not None and not unchanged:
        ident = int(invoice["id"])
        calls.append(("crm.item.productrow.set", {"ownerType": "SI", "ownerId": ident, "productRows": rows}))
    return OpPlan(tuple(calls), "item", made)


def _paid(fields: Mapping[str, Any], invoice: Mapping[str, Any] | None, mapping: OrderMapping) -> bool:
    return payment_state(fields)[0] if "payments" in fields else invoice_state(invoice, mapping)[0]


def _cancelled(fields: Mapping[str, Any], invoice: Mapping[str, Any] | None, mapping: OrderMapping) -> bool:
    if "cancelled" in fields:
        return bool(fields["cancelled"])
    return invoice_state(invoice, mapping)[1]


def _legacy_deal_plan(
    op: WriteOp, pipeline: PipelineMap, rows: list[dict[str, Any]] | None, mapping: OrderMapping
) -> OpPlan:
    """A portal without `crm.item.*` has no smart invoices (§5.5): the deal and its rows only."""
    origin = op.canonical_id if isinstance(op, Create) else None
    deal = deal_from_order(op.fields, pipeline, origin, mapping.properties, mapping.managers)
    fields = to_legacy(deal)
    calls: list[Call] = []
    if isinstance(op, Create):
        calls.append(("crm.deal.add", {"fields": fields}))
        owner: Any = _NEW
    else:
        owner = int(op.external_id)
        calls.append(("crm.deal.update", {"id": owner, "fields": fields}))
    if rows is not None:
        # Like productrow.set, productrows.set replaces every row (docs/protocols/bitrix24.md §5.2).
        calls.append(("crm.deal.productrows.set", {"id": owner, "rows": [to_legacy_row(r) for r in rows]}))
    return OpPlan(tuple(calls), "deal", None if isinstance(op, Create) else op.external_id)


def _party_plan(op: WriteOp, current: Mapping[str, Any]) -> OpPlan:
    if isinstance(op, Create):
        kind = "company" if op.fields.get("kind") == "organization" else "contact"
        fields = party_fields(kind, op.fields, None, op.canonical_id)
        calls: list[Call] = [(f"{PARTY_METHODS[kind]}.add", {"fields": fields})]
        if op.fields.get("requisites"):
            calls.append(_requisite_add(kind, _NEW, op.fields))
        return OpPlan(tuple(calls), kind)
    kind, crm_id = split_party(op.external_id)
    row = current.get(f"p{op.external_id}") or {}
    fields = party_fields(kind, op.fields, row, None)
    calls = [(f"{PARTY_METHODS[kind]}.update", {"id": crm_id, "fields": fields})]
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
        "ENTITY_TYPE_ID": REQUISITE_OWNER[kind],
        "ENTITY_ID": owner,
        "PRESET_ID": _PRESET[kind],
        "NAME": str(fields.get("name") or "Реквизиты"),
        **_requisite_fields(fields),
    }
    return ("crm.requisite.add", {"fields": body})
