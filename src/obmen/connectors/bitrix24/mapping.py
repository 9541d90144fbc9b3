"""Canonical field maps ⇄ Bitrix24 CRM objects (pure functions, no I/O).

Ids: a counterparty is a contact or a company, so its external id carries the CRM type abbreviation
from bitrix24.md §5.1 (`C12`, `CO4`); deals, invoices, leads and users use the bare numeric id.
Deals and smart invoices go through `crm.item.*` (camelCase, typed, §5.1, §5.5); contacts and companies
through the legacy methods, whose multi-field semantics (PHONE/EMAIL items with ID and DELETE) are
documented exactly (§5.4), where `crm.item`'s `fm` object is not.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.model.fields import decimal_text
from obmen.model.normalize import normalize_email, normalize_phone

__all__ = [
    "ORIGINATOR",
    "Pipeline",
    "counterparty_id",
    "customer_fields",
    "deal_from_order",
    "multi_update",
    "multi_values",
    "order_from_deal",
    "party_fields",
    "party_from_crm",
    "rows_from_lines",
    "split_party",
]

#: `ORIGINATOR_ID` of everything obmen creates; `ORIGIN_ID` holds the canonical id (bitrix24.md §5.2).
ORIGINATOR = "obmen"
_PARTY = {"C": "contact", "CO": "company"}


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The deal pipeline orders go to, and the order status ⇄ stage tables with their fallbacks."""

    category_id: int = 0
    to_stage: Mapping[str, str] = field(default_factory=dict)
    to_status: Mapping[str, str] = field(default_factory=dict)
    #: Unmapped statuses land here instead of being dropped; unmapped stages read as `fallback_status`.
    fallback_stage: str = "NEW"
    fallback_status: str = "N"
    currency: str = "RUB"
    #: Name prefix of the product row that carries delivery (the row is recognised by it on reading).
    delivery_row: str = "Доставка"

    def stage(self, status: str) -> str:
        """The deal stage for an order status."""
        stage = self.to_stage.get(status, self.fallback_stage)
        prefix = f"C{self.category_id}:" if self.category_id else ""
        return stage if ":" in stage or not prefix else prefix + stage

    def status(self, stage: str) -> str:
        """The order status for a deal stage."""
        bare = stage.split(":", 1)[1] if ":" in stage else stage
        explicit = self.to_status.get(stage) or self.to_status.get(bare)
        if explicit:
            return explicit
        # What is not mapped explicitly reads through the inverse of `to_stage` (config [mapping]).
        inverse = (s for s, mapped in self.to_stage.items() if mapped in (stage, bare))
        return next(inverse, self.fallback_status)


#: The legacy method family of each counterparty kind, and the requisite owner type of each
#: (`ENTITY_TYPE_ID`, bitrix24.md §5.4).
PARTY_METHODS = {"contact": "crm.contact", "company": "crm.company"}
REQUISITE_OWNER = {"contact": 3, "company": 4}


def counterparty_id(kind: str, crm_id: int | str) -> str:
    """`C12` for contact 12, `CO4` for company 4."""
    return f"{'CO' if kind == 'company' else 'C'}{crm_id}"


def split_party(external_id: str) -> tuple[str, int]:
    """(`contact`|`company`, numeric id) of a counterparty external id."""
    match = re.fullmatch(r"(CO|C)(\d+)", external_id)
    if not match:
        raise ValueError(f"not a Bitrix24 counterparty id: {external_id!r}")
    return _PARTY[match.group(1)], int(match.group(2))


def _money(amount: Any, currency: Any) -> dict[str, str] | None:
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None
    return {"amount": decimal_text(value), "currency": str(currency or "RUB")}


def _num(value: Any, default: str = "0") -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else default))
    except InvalidOperation:
        return Decimal(default)


def multi_values(items: Any, normalize: Any) -> list[str]:
    """The normalised, sorted, distinct values of a legacy multi-field (PHONE, EMAIL)."""
    values = [normalize(str(item.get("VALUE", ""))) for item in items or [] if isinstance(item, Mapping)]
    return sorted({v for v in values if v})


def party_from_crm(kind: str, row: Mapping[str, Any], requisite: Mapping[str, Any] | None) -> dict[str, Any]:
    """Canonical counterparty fields of a legacy contact or company row (and its first requisite)."""
    if kind == "company":
        name = str(row.get("TITLE") or "")
    else:
        parts = (row.get("NAME"), row.get("SECOND_NAME"), row.get("LAST_NAME"))
        name = " ".join(str(p) for p in parts if p)
    requisites = None
    if requisite and (requisite.get("RQ_INN") or requisite.get("RQ_KPP")):
        requisites = {
            "inn": requisite.get("RQ_INN") or None,
            "kpp": requisite.get("RQ_KPP") or None,
            "ogrn": requisite.get("RQ_OGRN") or None,
            "legal_address": None,
            "bank_account": None,
            "bik": None,
        }
    return {
        "kind": "organization" if kind == "company" else "person",
        "name": name,
        "phones": multi_values(row.get("PHONE"), normalize_phone),
        "emails": multi_values(row.get("EMAIL"), normalize_email),
        "requisites": requisites,
        "comment": row.get("COMMENTS") or None,
    }


def party_fields(
    kind: str, fields: Mapping[str, Any], current: Mapping[str, Any] | None, origin: str | None
) -> dict[str, Any]:
    """Legacy `fields` for a contact/company add (current=None) or update (only what `fields` holds)."""
    out: dict[str, Any] = {}
    if "name" in fields:
        out.update(
            {"TITLE": fields["name"]} if kind == "company" else {"NAME": fields["name"], "LAST_NAME": ""}
        )
        if kind != "company":
            out["SECOND_NAME"] = ""
    if "comment" in fields:
        out["COMMENTS"] = fields["comment"] or ""
    for name, crm, normalize in (("phones", "PHONE", normalize_phone), ("emails", "EMAIL", normalize_email)):
        if name in fields:
            out[crm] = multi_update(fields[name] or [], (current or {}).get(crm) or [], normalize)
    if origin is not None:
        out.update({"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": origin})
    return out


def multi_update(
    wanted: Iterable[str], items: Iterable[Mapping[str, Any]], normalize: Any
) -> list[dict[str, Any]]:
    """Legacy multi-field operations that turn `items` into `wanted`."""
    # Items without ID are appended, `DELETE: Y` removes one, unmentioned ones stay (bitrix24.md §5.4):
    # so delete what is no longer wanted and add what is missing, leaving equal values alone.
    want = list(dict.fromkeys(wanted))
    have = {normalize(str(i.get("VALUE", ""))): i for i in items if isinstance(i, Mapping)}
    ops: list[dict[str, Any]] = [{"ID": i["ID"], "DELETE": "Y"} for v, i in have.items() if v not in want]
    ops += [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in want if v not in have]
    return ops


def rows_from_lines(
    lines: Iterable[Mapping[str, Any]],
    delivery: Mapping[str, Any] | None,
    pipeline: Pipeline,
    delivery_product: int = 0,
) -> list[dict[str, Any]]:
    """`crm.item.productrow` rows for order lines, with delivery as the last row (ARCHITECTURE §4).

    The delivery row is the configured catalog product of its service (`delivery_product`) or, when the
    service maps to none, a free-text row; either way it is named «Доставка: <service>».
    """
    rows = []
    for sort, line in enumerate(lines, start=1):
        price = _num(line["price"]["amount"])
        discount = _num((line.get("discount") or {}).get("amount"))
        ref = line.get("offer")
        rows.append(
            {
                "productId": int(ref["id"]) if ref else 0,
                "productName": line["name"],
                # `price` is per unit after discount; the discount travels as an absolute sum (§5.2).
                "price": float(price - discount),
                "quantity": float(_num(line["quantity"], "1")),
                "discountTypeId": 1,
                "discountSum": float(discount),
                "taxRate": float(_num(line["vat_rate"])) if line.get("vat_rate") is not None else None,
                "taxIncluded": "Y",
                "sort": sort * 10,
            }
        )
    if delivery:
        rows.append(
            {
                "productId": delivery_product,
                "productName": f"{pipeline.delivery_row}: {delivery['service']}",
                "price": float(_num(delivery["price"]["amount"])),
                "quantity": 1.0,
                "discountTypeId": 1,
                "discountSum": 0.0,
                "taxRate": None,
                "taxIncluded": "Y",
                "sort": (len(rows) + 1) * 10,
            }
        )
    return rows


def _lines_from_rows(
    rows: Iterable[Mapping[str, Any]], currency: str, pipeline: Pipeline, services: Container[str] = ()
) -> tuple[list[Any], Any]:
    lines: list[dict[str, Any]] = []
    delivery = None
    for row in sorted(rows, key=lambda r: (int(r.get("sort") or 0), int(r.get("id") or 0))):
        name = str(row.get("productName") or "")
        price, discount = _num(row.get("price")), _num(row.get("discountSum"))
        service = name.split(": ", 1)[1] if name.startswith(pipeline.delivery_row + ": ") else None
        if service is not None and (not row.get("productId") or service in services):
            delivery = {
                "service": service,
                "price": _money(price + discount, currency),
                "address": None,
            }
            continue
        product = int(row.get("productId") or 0)
        tax = row.get("taxRate")
        lines.append(
            {
                "offer": {"$ref": "offer", "id": str(product)} if product else None,
                "name": name,
                "quantity": decimal_text(_num(row.get("quantity"), "1")),
                "price": _money(price + discount, currency),
                "discount": _money(discount, currency) if discount else None,
                "vat_rate": decimal_text(_num(tax)) if tax not in (None, "") else None,
            }
        )
    return lines, delivery


def deal_from_order(fields: Mapping[str, Any], pipeline: Pipeline, origin: str | None) -> dict[str, Any]:
    """`crm.item` fields of a deal for the order fields given (an add when `origin` is set)."""
    out: dict[str, Any] = {}
    if "status" in fields:
        out["stageId"] = pipeline.stage(str(fields["status"]))
    if "customer" in fields:
        out.update(customer_fields(fields["customer"]))
    if fields.get("responsible"):
        out["assignedById"] = int(fields["responsible"]["id"])
    if "comment" in fields:
        out["comments"] = fields["comment"] or ""
    if fields.get("total"):
        out.update(
            {"opportunity": float(_num(fields["total"]["amount"])), "currencyId": fields["total"]["currency"]}
        )
        out["isManualOpportunity"] = "Y"
    if "site" in fields:
        out["additionalInfo"] = fields["site"] or ""
    if fields.get("number"):
        out["title"] = f"Заказ №{fields['number']}"  # for people; the number is read from the invoice
    if origin is not None:
        out.update({"categoryId": pipeline.category_id, "originatorId": ORIGINATOR, "originId": origin})
        out.setdefault("stageId", pipeline.stage(""))
    return out


def customer_fields(ref: Mapping[str, Any] | None) -> dict[str, Any]:
    """`crm.item` client fields for a counterparty reference (a company, or a contact, or nobody)."""
    if not ref:
        return {"contactIds": [], "companyId": 0}
    kind, crm_id = split_party(str(ref["id"]))
    return (
        {"companyId": crm_id, "contactIds": []}
        if kind == "company"
        else {"contactIds": [crm_id], "companyId": 0}
    )


def order_from_deal(
    item: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    pipeline: Pipeline,
    services: Container[str] = (),
) -> dict[str, Any]:
    """Canonical order fields carried by a deal (`crm.item` form) and its product rows."""
    currency = str(item.get("currencyId") or pipeline.currency)
    lines, delivery = _lines_from_rows(rows, currency, pipeline, services)
    customer = None
    contacts = item.get("contactIds") or ([item["contactId"]] if item.get("contactId") else [])
    if item.get("companyId"):
        customer = {"$ref": "counterparty", "id": counterparty_id("company", item["companyId"])}
    elif contacts:
        customer = {"$ref": "counterparty", "id": counterparty_id("contact", contacts[0])}
    assigned = item.get("assignedById")
    return {
        "status": pipeline.status(str(item.get("stageId") or "")),
        "customer": customer,
        "responsible": {"$ref": "user", "id": str(assigned)} if assigned else None,
        "comment": item.get("comments") or None,
        "total": _money(item.get("opportunity") or 0, currency),
        "lines": lines,
        "delivery": delivery,
    }
