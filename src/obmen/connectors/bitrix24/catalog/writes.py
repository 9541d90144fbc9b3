"""Write plans for the catalog: the batch commands that carry one catalog `Create` or `Update`.

Steps of one op are named `o{index}s{step}`; a later step names an earlier one's answer with
`$result[o{index}s{step}][offer][id]` (docs/protocols/bitrix24.md §4), so a variation, its prices and its
stock
documents go out in one request and the prices can never land on a wrong product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from obmen.connectors.base import Create, Update, WriteOp, WriteResult
from obmen.connectors.bitrix24.catalog.fields import (
    CatalogInfo,
    as_price_and_stock,
    price_rows,
    product_payload,
    section_payload,
    stock_moves,
)
from obmen.connectors.bitrix24.client.rest import BatchReply, Call
from obmen.errors import ProtocolError

__all__ = ["Plan", "adopted", "plan", "stock_target"]

#: Marks "the answer of step N of this op" inside params: `\x00` + step + path.
_REF = "\x00"


def _ref(step: int, path: str) -> str:
    return f"{_REF}{step}{_REF}{path}"


@dataclass(frozen=True, slots=True)
class Plan:
    """The commands of one catalog write; step 0 creates or updates the object itself (if any)."""

    calls: tuple[Call, ...]
    #: The answer key of a create (`section`, `element` for a simple product, `sku`, `offer`; §5.7).
    created: str | None
    external_id: str | None

    def named(self, index: int) -> dict[str, Call]:
        """The commands under batch names, with references resolved to `$result[...]`."""
        return {
            f"o{index}s{step}": (method, _resolve(params, index))
            for step, (method, params) in enumerate(self.calls)
        }

    def result(self, op: WriteOp, index: int, reply: BatchReply) -> WriteResult:
        """The op's outcome: the first failing command decides."""
        for step in range(len(self.calls)):
            error = reply.errors.get(f"o{index}s{step}")
            if error is not None:
                return WriteResult(op, external_id=self._id(index, reply), error=error)
        ident = self._id(index, reply)
        if ident is None:
            return WriteResult(
                op, error=ProtocolError(f"{self.calls[0][0]} answered without result.{self.created}.id")
            )
        return WriteResult(op, external_id=ident)

    def _id(self, index: int, reply: BatchReply) -> str | None:
        if self.created is None:
            return self.external_id
        answer = reply.results.get(f"o{index}s0")
        row = answer.get(self.created) if isinstance(answer, Mapping) else None
        return str(row["id"]) if isinstance(row, Mapping) and row.get("id") else None


def _resolve(value: Any, index: int) -> Any:
    if isinstance(value, str) and value.startswith(_REF):
        step, path = value[1:].split(_REF, 1)
        return f"$result[o{index}s{step}]{path}"
    if isinstance(value, Mapping):
        return {k: _resolve(v, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, index) for v in value]
    return value


def adopted(op: WriteOp, external_id: str) -> Update:
    """A create whose object already exists (found by `xmlId`) is an update of that object."""
    return Update(op.entity, external_id, op.fields)


def _product_ref(fields: Mapping[str, Any]) -> str | None:
    ref = fields.get("product")
    ident = str(ref.get("id") or "") if isinstance(ref, Mapping) else ""
    return ident if ident.isdigit() else None


def stock_target(op: WriteOp, variations: bool) -> str | None:
    """The id whose current stock a write must read first (None: nothing to read)."""
    if op.entity != "offer" or not {"quantity", "store_stock"} & set(op.fields):
        return None
    if isinstance(op, Update):
        return op.external_id
    return None if variations else _product_ref(op.fields)


def plan(
    op: WriteOp,
    info: CatalogInfo,
    variations: bool,
    stock: Mapping[str, Mapping[int, Decimal]],
    simple: frozenset[str] = frozenset(),
) -> Plan | WriteResult:
    """The commands for one write, or a result at once for a write the catalog cannot take.

    `simple` names existing products of type 1 (simple): the parent family (`catalog.product.sku.*`)
    does not see them (docs/protocols/bitrix24.md §5.7), so a product made by hand before obmen is updated as
    what it is.
    """
    origin = op.canonical_id if isinstance(op, Create) else None
    if op.entity == "category":
        return _object(
            "catalog.section", "section", section_payload(op.fields, info.product_iblock, origin), op
        )
    if op.entity == "product":
        parent = variations and not (isinstance(op, Update) and op.external_id in simple)
        family, key = ("catalog.product.sku", "sku") if parent else ("catalog.product", "element")
        return _object(family, key, product_payload(op.fields, info.product_iblock, origin), op)
    if op.entity == "offer":
        return _offer(op, info, variations, stock)
    error = ProtocolError(
        f"Bitrix24 {op.entity} objects are kept in the portal by hand; obmen only reads them"
    )
    return WriteResult(op, error=error)


def _object(family: str, key: str, payload: Mapping[str, Any], op: WriteOp) -> Plan:
    if isinstance(op, Create):
        return Plan(((f"{family}.add", {"fields": payload}),), key, None)
    if not payload:
        return Plan((), None, op.external_id)
    return Plan(((f"{family}.update", {"id": int(op.external_id), "fields": payload}),), None, op.external_id)


def _offer(
    op: WriteOp, info: CatalogInfo, variations: bool, stock: Mapping[str, Mapping[int, Decimal]]
) -> Plan | WriteResult:
    fields = as_price_and_stock(op.fields, info)
    calls: list[Call] = []
    own: dict[str, Any] = {}
    if variations:
        own = product_payload({k: v for k, v in fields.items() if k != "categories"}, 0, None)
        if isinstance(op, Create):
            parent = _product_ref(fields)
            if parent is None or info.offers_iblock is None:
                return WriteResult(
                    op, error=ProtocolError("a variation needs its parent product and an offers catalog")
                )
            own.update(
                {
                    "iblockId": info.offers_iblock,
                    "parentId": int(parent),
                    "xmlId": fields.get("xml_id") or op.canonical_id,
                }
            )
    if "stock" in fields and not info.inventory:
        # Without inventory management stock is the product's `quantity` (docs/protocols/bitrix24.md §5.7).
        own["quantity"] = float(
            sum((Decimal(str(s.get("quantity") or 0)) for s in fields["stock"] or []), Decimal(0))
        )
    if isinstance(op, Create) and variations:
        calls.append(("catalog.product.offer.add", {"fields": own}))
        owner: Any = _ref(0, "[offer][id]")
        created, external = "offer", None
    else:
        external = op.external_id if isinstance(op, Update) else _product_ref(fields)
        if external is None:
            return WriteResult(op, error=ProtocolError("an offer of a simple product needs its product"))
        owner, created = int(external), None
        if own:
            family = "catalog.product.offer" if variations else "catalog.product"
            calls.append((f"{family}.update", {"id": owner, "fields": own}))
    if "prices" in fields:
        rows = price_rows(fields["prices"] or [])
        calls.append(("catalog.price.modify", {"fields": {"product": {"id": owner, "prices": rows}}}))
    if "stock" in fields and info.inventory:
        have = dict(stock.get(str(external), {})) if external else {}
        if info.per_store:
            have = {store: amount for store, amount in have.items() if store in info.mapped_stores}
        calls.extend(_documents(stock_moves(fields["stock"] or [], have), owner, info, len(calls)))
    return Plan(tuple(calls), created, external)


def _documents(moves: Mapping[int, Decimal], owner: Any, info: CatalogInfo, first: int) -> list[Call]:
    """Store documents that move stock by `moves`: a receipt (A) up, a disposal (D) down (§5.7)."""
    calls: list[Call] = []
    for doc_type, store_key, sign in (("A", "storeTo", 1), ("D", "storeFrom", -1)):
        lines = {store: delta * sign for store, delta in moves.items() if delta * sign > 0}
        if not lines:
            continue
        doc_step = first + len(calls)
        doc_id = _ref(doc_step, "[document][id]")
        calls.append(
            (
                "catalog.document.add",
                {
                    "fields": {
                        "docType": doc_type,
                        "currency": info.currency,
                        "responsibleId": info.responsible,
                    }
                },
            )
        )
        for store, amount in sorted(lines.items()):
            element = {
                "docId": doc_id,
                "elementId": owner,
                store_key: store,
                "amount": float(amount),
                "purchasingPrice": 0,
            }
            calls.append(("catalog.document.element.add", {"fields": element}))
        calls.append(("catalog.document.conduct", {"id": doc_id}))
    return calls
