"""An order in Bitrix24 is a composite: a deal with product rows plus a smart invoice (docs/architecture.md).

See §4.

The deal carries the status (its stage, through the pipeline of the order's site), the customer, the
lines and the delivery row; the smart invoice (entityTypeId 31, linked by `parentId2`,
docs/protocols/bitrix24.md §5.5)
carries the same client and rows and the payment state as its stage. Where each canonical field lives:

- `number` → the invoice's `accountNumber` (its documented "invoice number" field); the deal's title
  «Заказ №N» is for people only and never read back;
- `payments` → the invoice: paid ⇐ the invoice stage is the configured paid stage (or has success
  semantics `S`, where the portal tells them), which it is only when every payment is; `amount` ⇐ the
  invoice `opportunity` (the sum of the payments); `system` and `paid_at` ⇐ the invoice `xmlId` (the
  invoice's free external code, which managers do not edit): `<system>` or `<system>|<ISO time>` for one
  payment, `obmen:[[system, amount, paid, paid_at], …]` for several (part paid online, the rest on
  delivery), so that each keeps its own amount and state. A stage moved to paid by a manager pays every
  payment; moved back from paid, none is;
- `cancelled` ⇐ the deal's stage has failure semantics (`F`) or the invoice is in the cancelled stage; a
  cancelled invoice's payments are read from its `xmlId` (paid ⇐ a payment time kept), its stage telling
  only the cancellation;
- `site` → the deal's `additionalInfo` (a plain text field), so that it reads back as written.

A deal without an invoice (made by a manager, or before obmen) reads as `incomplete`: the fields only the
invoice holds are left out, and the next write builds the invoice from the fields it carries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.config.mapping import InvoiceStages, MappingSettings, PipelineMap
from obmen.errors import PermanentError
from obmen.model.fields import decimal_text
from obmen.model.payments import paid_in_full, paid_sum, unfold

__all__ = ["INVOICE_ONLY", "OrderMapping", "invoice_item", "order_parts"]

#: Canonical order fields that only the invoice holds (absent while a deal has no invoice).
INVOICE_ONLY = frozenset({"number", "payments"})
#: How an invoice `xmlId` that keeps several payments begins.
SEVERAL = "obmen:"


@dataclass(frozen=True, slots=True)
class OrderMapping:
    """The `[mapping]` tables the CRM needs (`obmen.config.mapping`), and the portal's currency."""

    pipelines: Mapping[str, PipelineMap] = field(default_factory=lambda: {"default": PipelineMap()})
    #: Site id → pipeline name; unlisted sites go to `default_pipeline`.
    sites: Mapping[str, str] = field(default_factory=dict)
    default_pipeline: str = "default"
    invoice: InvoiceStages = field(default_factory=InvoiceStages)
    #: Delivery service → the `xmlId` of its product inside the `delivery_section` catalog section.
    delivery: Mapping[str, str] = field(default_factory=dict)
    delivery_section: str = "obmen-delivery"
    #: The currency of deals that name none.
    currency: str = "RUB"
    #: Order property code → the deal field holding it (`[mapping] order_properties` with a `deal`).
    properties: Mapping[str, str] = field(default_factory=dict)
    #: Bitrix24 user id → the responsible's name (`[mapping] managers`): the order's `manager`.
    managers: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, mapping: MappingSettings, currency: str = "RUB") -> OrderMapping:
        """The tables of the validated `[mapping]` section."""
        return cls(
            pipelines=dict(mapping.pipelines),
            sites=dict(mapping.sites),
            default_pipeline=mapping.default_pipeline,
            invoice=mapping.invoice,
            delivery=dict(mapping.delivery),
            delivery_section=mapping.delivery_section,
            currency=currency,
            properties={code: p.deal for code, p in mapping.properties().items() if p.deal},
            managers=dict(mapping.managers),
        )

    @property
    def default(self) -> PipelineMap:
        """The pipeline of orders from unlisted sites."""
        return self.pipelines[self.default_pipeline]

    def for_site(self, site: str | None) -> PipelineMap:
        """The pipeline a new order from `site` goes to."""
        return self.pipelines[self.sites.get(site or "", self.default_pipeline)]

    def for_category(self, category_id: Any) -> PipelineMap:
        """The pipeline a deal is in; an unmapped one reads through the default tables."""
        try:
            wanted = int(category_id or 0)
        except (TypeError, ValueError):
            wanted = 0
        for name in (self.default_pipeline, *sorted(self.pipelines)):
            if self.pipelines[name].category_id == wanted:
                return self.pipelines[name]
        return self.default.model_copy(update={"category_id": wanted})


def _num(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return Decimal(0)


def payment_state(fields: Mapping[str, Any]) -> tuple[bool, str, Any, Any]:
    """(paid, system, amount, paid_at) of an order's payments, folded into the one invoice."""
    payments = [p for p in fields.get("payments") or [] if isinstance(p, Mapping)]
    paid = paid_in_full(payments)
    system = str(payments[0].get("system") or "") if payments else ""
    paid_at = payments[0].get("paid_at") if payments else None
    amounts = [_num((p.get("amount") or {}).get("amount")) for p in payments]
    total = fields.get("total") or {}
    amount = sum(amounts, Decimal(0)) if payments else _num(total.get("amount"))
    return paid, system, amount, paid_at


def payments_code(fields: Mapping[str, Any]) -> str:
    """The invoice `xmlId` that keeps an order's payments: `system|paid_at` for one, a list for several."""
    payments = [p for p in fields.get("payments") or [] if isinstance(p, Mapping)]
    if len(payments) < 2:
        _, system, _, paid_at = payment_state(fields)
        return f"{system}|{paid_at}" if paid_at else system
    rows = [
        [
            str(p.get("system") or ""),
            decimal_text(_num((p.get("amount") or {}).get("amount"))),
            bool(p.get("paid")),
            p.get("paid_at"),
        ]
        for p in payments
    ]
    return SEVERAL + json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def _several(raw: str, paid: bool | None, currency: str) -> list[dict[str, Any]] | None:
    """The payments a several-payment `xmlId` keeps, as the invoice's stage says now (`paid` None: the
    stage says nothing of payment, they stay as kept); None if not one."""
    if not raw.startswith(SEVERAL):
        return None
    try:
        rows = json.loads(raw[len(SEVERAL) :])
    except ValueError:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 4 for r in rows):
        return None
    kept = [
        {
            "system": str(r[0]),
            "amount": {"amount": decimal_text(_num(r[1])), "currency": currency},
            "paid": bool(r[2]),
            "paid_at": _time(str(r[3] or "")),
        }
        for r in rows
    ]
    # The stage is the invoice's truth for the order as a whole (obmen.model.payments.unfold).
    return kept if paid is None else unfold(kept, paid)


def _paid_part(fields: Mapping[str, Any]) -> str | None:
    """What a manager reads of several payments in the invoice's comment (its documented text field,
    docs/protocols/bitrix24.md §5.5): how much of the sum is paid; written, never read back."""
    payments = [p for p in fields.get("payments") or [] if isinstance(p, Mapping)]
    if len(payments) < 2:
        return None
    paid, total = decimal_text(paid_sum(payments)), decimal_text(payment_state(fields)[2])
    return f"Оплачено {paid} из {total} / Paid {paid} of {total}"


def invoice_item(
    fields: Mapping[str, Any],
    mapping: OrderMapping,
    *,
    deal: Any,
    client: Mapping[str, Any] | None,
    state: tuple[bool, bool] | None,
    new: bool,
) -> dict[str, Any]:
    """`crm.item` fields of the order's invoice for the order fields given (for an add when `new`).

    `state` is the (paid, cancelled) pair to write, or None when neither changed.
    """
    out: dict[str, Any] = {}
    if client is not None:
        out.update(client)
    if state is not None:
        out["stageId"] = mapping.invoice.of(*state)
    if "payments" in fields or "total" in fields:
        amount = payment_state(fields)[2]
        if fields.get("payments") is not None or new:
            out["xmlId"] = payments_code(fields)
            paid_part = _paid_part(fields)
            if paid_part:
                out["comments"] = paid_part
        out.update({"opportunity": float(amount), "isManualOpportunity": "Y"})
        if fields.get("total"):
            out["currencyId"] = fields["total"]["currency"]
    if fields.get("number"):
        out.update({"accountNumber": str(fields["number"]), "title": f"Счёт к заказу №{fields['number']}"})
    if new:
        # Linked to its deal (docs/protocols/bitrix24.md §5.5): that link is how a lost answer's invoice is
        # found again;
        # no ORIGIN_ID stamp, the invoice's fixed field set has none (D:…/universal/object-fields.md).
        out["parentId2"] = deal
        if mapping.invoice.category_id:
            out["categoryId"] = mapping.invoice.category_id
            out.setdefault("stageId", mapping.invoice.of(False, False))
        elif state == (False, False):
            # Pipeline not known yet: the portal's default pipeline and its first stage (unpaid) it is.
            out.pop("stageId", None)
        else:
            raise PermanentError(
                "the portal names no smart-invoice pipeline to put a paid or cancelled invoice in"
            )
    return out


def invoice_state(invoice: Mapping[str, Any] | None, mapping: OrderMapping) -> tuple[bool, bool]:
    """(paid, cancelled) as the invoice's stage says."""
    if not invoice:
        return False, False
    stage = str(invoice.get("stageId") or "")
    suffix = stage.split(":", 1)[1] if ":" in stage else stage
    semantic = invoice.get("stageSemanticId")
    paid = suffix == mapping.invoice.paid or (semantic == "S" and suffix != mapping.invoice.cancelled)
    return paid, suffix == mapping.invoice.cancelled


def order_parts(
    deal: Mapping[str, Any], invoice: Mapping[str, Any] | None, mapping: OrderMapping, currency: str
) -> dict[str, Any]:
    """The canonical fields the composite adds to the deal's: site, cancelled, and from the invoice
    number and payments (left out when there is no invoice)."""
    paid, cancelled = invoice_state(invoice, mapping)
    out: dict[str, Any] = {
        "site": deal.get("additionalInfo") or None,
        "cancelled": _cancelled(deal, invoice, cancelled, mapping),
    }
    if invoice is None:
        return out
    out["number"] = invoice.get("accountNumber") or None
    raw = str(invoice.get("xmlId") or "")
    # A cancelled invoice's stage says cancelled, not whether it was paid: its payments are what its
    # `xmlId` kept (a payment is a fact, docs/architecture.md §2.11), not undone by the cancellation.
    several = _several(raw, None if cancelled else paid, currency)
    if several is not None:
        out["payments"] = several
        return out
    head, bar, tail = raw.rpartition("|")
    at = _time(tail) if bar else None
    system = head if at else raw  # a `|` inside the system's own name stays part of it
    if cancelled:
        paid = at is not None
    if system or at or paid:
        amount = {"amount": decimal_text(_num(invoice.get("opportunity"))), "currency": currency}
        out["payments"] = [{"system": system, "amount": amount, "paid": paid, "paid_at": at}]
    else:
        out["payments"] = []
    return out


def _cancelled(
    deal: Mapping[str, Any], invoice: Mapping[str, Any] | None, by_invoice: bool, mapping: OrderMapping
) -> bool:
    """Whether the order is cancelled: its deal is lost (a failure stage, or its pipeline's `C` stage) or
    its invoice is in the cancelled stage.

    Where the deal and the invoice disagree and the pipeline can show a cancellation on the deal, the one
    moved last tells (a manager who moves a lost deal on restores the order, although its invoice was
    cancelled with it; docs/architecture.md §2.11); moved in the same second, either one cancels.
    """
    pipeline = mapping.for_category(deal.get("categoryId"))
    by_deal = deal.get("stageSemanticId") == "F" or pipeline.cancels(str(deal.get("stageId") or ""))
    if by_deal == by_invoice or invoice is None or pipeline.cancelled_stage() is None:
        return by_deal or by_invoice
    deal_moved = _instant(str(deal.get("movedTime") or ""))
    invoice_moved = _instant(str(invoice.get("movedTime") or ""))
    if deal_moved == invoice_moved:  # moved together, or times unknown: either one cancels
        return True
    return by_invoice if invoice_moved > deal_moved else by_deal


def _instant(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _time(text: str) -> str | None:
    try:
        return datetime.fromisoformat(text).isoformat() if text else None
    except ValueError:
        return None


def by_parent(invoices: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Deal id → its invoice (the oldest when a manager made several)."""
    out: dict[str, Mapping[str, Any]] = {}
    for item in sorted(invoices, key=lambda i: int(i.get("id") or 0)):
        parent = item.get("parentId2")
        if parent:
            out.setdefault(str(parent), item)
    return out
