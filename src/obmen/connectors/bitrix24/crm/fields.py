"""Canonical field maps ⇄ Bitrix24 CRM objects (pure functions, no I/O).

Ids: a counterparty is a contact or a company, so its external id carries the CRM type abbreviation
from docs/protocols/bitrix24.md §5.1 (`C12`, `CO4`); deals, invoices, leads and users use the bare numeric id.
Deals and smart invoices go through `crm.item.*` (camelCase, typed, §5.1, §5.5); contacts and companies
through the legacy methods, whose multi-field semantics (PHONE/EMAIL items with ID and DELETE) are
documented exactly (§5.4), where `crm.item`'s `fm` object is not.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from obmen.config.mapping import PipelineMap, property_field
from obmen.connectors.bitrix24.crm.legacy import item_field
from obmen.model.fields import decimal_text
from obmen.model.normalize import normalize_email, normalize_name, normalize_phone
from obmen.model.totals import gross_unit, included, net_unit

__all__ = [
    "ORIGINATOR",
    "counterparty_id",
    "customer_fields",
    "deal_from_order",
    "manager_silence",
    "multi_update",
    "multi_values",
    "order_from_deal",
    "party_fields",
    "party_from_crm",
    "rows_from_lines",
    "split_party",
    "stage_silence",
]

#: `ORIGINATOR_ID` of everything obmen creates; `ORIGIN_ID` holds the canonical id (docs/protocols/bitrix24.md
# §5.2).
ORIGINATOR = "obmen"
#: Name prefix of the product row that carries delivery (the row is recognised by it on reading).
DELIVERY_ROW = "Доставка"
_PARTY = {"C": "contact", "CO": "company"}
KOPECK = Decimal("0.01")


#: The legacy method family of each counterparty kind, and the requisite owner type of each
#: (`ENTITY_TYPE_ID`, docs/protocols/bitrix24.md §5.4).
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
    # Items without ID are appended, `DELETE: Y` removes one, unmentioned ones stay
    # (docs/protocols/bitrix24.md §5.4):
    # so delete what is no longer wanted and add what is missing, leaving equal values alone.
    want = list(dict.fromkeys(wanted))
    have = {normalize(str(i.get("VALUE", ""))): i for i in items if isinstance(i, Mapping)}
    ops: list[dict[str, Any]] = [{"ID": i["ID"], "DELETE": "Y"} for v, i in have.items() if v not in want]
    ops += [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in want if v not in have]
    return ops


def rows_from_lines(
    lines: Iterable[Mapping[str, Any]], delivery: Mapping[str, Any] | None, delivery_product: int = 0
) -> list[dict[str, Any]]:
    """`crm.item.productrow` rows for order lines, with delivery as the last row (docs/architecture.md §4).

    The delivery row is the configured catalog product of its service (`delivery_product`) or, when the
    service maps to none, a free-text row; either way it is named «Доставка: <service>».
    """
    rows = []
    for sort, line in enumerate(lines, start=1):
        price = _num(line["price"]["amount"])
        quantity = _num(line["quantity"], "1")
        # A line's price is what the buyer pays per unit and its discount the line's sum, already taken
        # (model.entities.OrderLine); a row's `price` is final per unit too and its `discountSum` per
        # unit (§5.2): the rows add up to the order's total to the kopeck, the discount is shown rounded.
        discount = _num((line.get("discount") or {}).get("amount"))
        per_unit = (discount / quantity).quantize(KOPECK, ROUND_HALF_UP) if quantity else Decimal(0)
        ref = line.get("offer")
        rate = _num(line["vat_rate"]) if line.get("vat_rate") is not None else None
        # A row's `price` includes its tax either way (§5.2): VAT on top is the net price grossed up, the
        # row saying `taxIncluded: N`; the deal's sum is obmen's, to the kopeck (model/totals.py).
        on_top = not included(rate, line.get("vat_included") is not False)
        rows.append(
            {
                "productId": int(ref["id"]) if ref else 0,
                "productName": line["name"],
                "price": float(gross_unit(price, rate) if on_top else price),
                "quantity": float(quantity),
                "discountTypeId": 1,
                "discountSum": float(per_unit),
                "taxRate": float(rate) if rate is not None else None,
                "taxIncluded": "N" if on_top else "Y",
                "sort": sort * 10,
            }
        )
    if delivery:
        rows.append(
            {
                "productId": delivery_product,
                "productName": f"{DELIVERY_ROW}: {delivery['service']}",
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
    rows: Iterable[Mapping[str, Any]], currency: str, services: Container[str] = ()
) -> tuple[list[Any], Any]:
    lines: list[dict[str, Any]] = []
    delivery = None
    for row in sorted(rows, key=lambda r: (int(r.get("sort") or 0), int(r.get("id") or 0))):
        name = str(row.get("productName") or "")
        price, discount = _num(row.get("price")), _num(row.get("discountSum"))
        service = name.split(": ", 1)[1] if name.startswith(DELIVERY_ROW + ": ") else None
        if service is not None and (not row.get("productId") or service in services):
            delivery = {"service": service, "price": _money(price, currency), "address": None}
            continue
        product = int(row.get("productId") or 0)
        tax = row.get("taxRate")
        rate = _num(tax) if tax not in (None, "") else None
        quantity = _num(row.get("quantity"), "1")
        discount = (discount * quantity).quantize(KOPECK, ROUND_HALF_UP)
        vat_included = included(rate, str(row.get("taxIncluded") or "Y").upper() != "N")
        lines.append(
            {
                "offer": {"$ref": "offer", "id": str(product)} if product else None,
                "name": name,
                "quantity": decimal_text(quantity),
                "price": _money(price if vat_included else net_unit(price, rate), currency),
                "discount": _money(discount, currency) if discount else None,
                "vat_rate": decimal_text(rate) if rate is not None else None,
                "vat_included": vat_included,
            }
        )
    return lines, delivery


def deal_from_order(
    fields: Mapping[str, Any],
    pipeline: PipelineMap,
    origin: str | None,
    properties: Mapping[str, str] | None = None,
    managers: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """`crm.item` fields of a deal for the order fields given (an add when `origin` is set);
    `properties` maps order property codes to their deal fields (`[mapping] order_properties`),
    `managers` users to the responsible names the order's `manager` holds (`[mapping] managers`)."""
    out: dict[str, Any] = {}
    for code, deal_field in (properties or {}).items():
        if property_field(code) in fields:
            out[item_field(deal_field)] = fields[property_field(code)] or ""
    stage = _stage(fields, pipeline)
    if stage is not None:
        out["stageId"] = stage
    if "customer" in fields:
        out.update(customer_fields(fields["customer"]))
    if fields.get("responsible"):
        out["assignedById"] = int(fields["responsible"]["id"])
    user = _user_of(fields.get("manager"), managers or {})
    if user is not None:
        # The manager 1C names (`[mapping] managers`) is who the deal is assigned to.
        out["assignedById"] = user
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
        out.setdefault("stageId", pipeline.stage(str(fields.get("status") or "")))
    return out


def _stage(fields: Mapping[str, Any], pipeline: PipelineMap) -> str | None:
    """The stage a deal moves to: a cancelled order's is the cancellation stage, else its status's.

    An unmapped status moves no deal: the fallback stage is for creates only (docs/architecture.md §2.12);
    the deal keeps its stage and the engine holds its reading (engine/merge.py). A restored order leaves
    the cancellation stage for its status's, or the fallback one if its status is unmapped: a deal kept
    there would read as cancelled again (§2.11).
    """
    if fields.get("cancelled") and pipeline.cancelled_stage():
        return pipeline.cancelled_stage()
    if "status" not in fields:
        return None
    mapped = pipeline.mapped_stage(str(fields["status"]))
    if "cancelled" in fields and not fields["cancelled"]:
        return mapped or pipeline.stage("")
    return mapped


def _user_of(name: Any, managers: Mapping[int, str]) -> int | None:
    """The user whose `[mapping] managers` name is 1C's responsible name, spaces and case aside."""
    wanted = normalize_name(str(name or "")).casefold()
    return next((u for u, n in managers.items() if normalize_name(n).casefold() == wanted), None)


def manager_silence(item: Mapping[str, Any], managers: Mapping[int, str]) -> dict[str, Any]:
    """The `unknown` of a deal assigned to a user no `managers` row names: its manager is unknown, not
    nobody (docs/architecture.md §2.12)."""
    assigned = item.get("assignedById")
    if not managers or not assigned or int(assigned) in managers:
        return {}
    return {"manager": f"user {assigned} (not in [mapping] managers)"}


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


def stage_silence(item: Mapping[str, Any], pipeline: PipelineMap) -> tuple[dict[str, Any], dict[str, Any]]:
    """(unknown, fallbacks) of a deal whose stage tells no status (docs/architecture.md §2.12).

    The status is then unknown, not the fallback: the deal takes no part in deciding it, and the stage is
    what the order's timeline shows; `fallback_status` serves only a new order made from the deal.
    """
    stage = str(item.get("stageId") or "")
    if pipeline.reading(stage) is not None:
        return {}, {}
    return {"status": f"stage {stage or '(none)'}"}, {"status": pipeline.fallback_status}


def order_from_deal(
    item: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    pipeline: PipelineMap,
    services: Container[str] = (),
    currency: str = "RUB",
    properties: Mapping[str, str] | None = None,
    managers: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Canonical order fields carried by a deal (`crm.item` form) and its product rows, with the order
    properties its fields hold (`properties`: code → deal field) and, with `managers`, its manager."""
    currency = str(item.get("currencyId") or currency)
    lines, delivery = _lines_from_rows(rows, currency, services)
    customer = None
    contacts = item.get("contactIds") or ([item["contactId"]] if item.get("contactId") else [])
    if item.get("companyId"):
        customer = {"$ref": "counterparty", "id": counterparty_id("company", item["companyId"])}
    elif contacts:
        customer = {"$ref": "counterparty", "id": counterparty_id("contact", contacts[0])}
    assigned = item.get("assignedById")
    status = pipeline.reading(str(item.get("stageId") or ""))
    return {
        # A stage that tells no status leaves it out: the deal does not vote on it (stage_silence).
        **({"status": status} if status is not None else {}),
        "customer": customer,
        "responsible": {"$ref": "user", "id": str(assigned)} if assigned else None,
        "comment": item.get("comments") or None,
        "total": _money(item.get("opportunity") or 0, currency),
        "lines": lines,
        "delivery": delivery,
        **{
            property_field(code): _text(item.get(item_field(deal_field)))
            for code, deal_field in (properties or {}).items()
        },
        # An unmapped user leaves the manager out: unknown (manager_silence), never "nobody".
        **(
            {"manager": managers[int(assigned)]}
            if managers and assigned and int(assigned) in managers
            else {}
        ),
    }


def _text(value: Any) -> str | None:
    """A deal field's value as an order property's text (a multiple field: its first value)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value in (None, "", False) else str(value)
