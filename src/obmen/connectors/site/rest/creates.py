"""An order made elsewhere (a CRM deal) → a site order, by REST (docs/protocols/site-rest.md §6.5).

The site makes an order piece by piece: `sale.order.add` (the site numbers it), a `sale.basketitem.add`
per line, `sale.shipment.add`, `sale.payment.add`. A crash can fall between any two, so the order is
stamped first with `xmlId = obmen-draft:<canonical id>` and only when its last part is in does
`sale.order.update` make that `obmen:<canonical id>`. `find_by_origin` finds either stamp, so a retried
create links the order the crashed one made rather than making another; a draft reads as *incomplete*
(its missing parts unknown, `docs/architecture.md` §2.4), so the engine writes it again in full and
`finish` adds only the parts it lacks, in the same order.

The site's order needs a buyer who is a site user: the one `site.crm_buyer_id` names stands in for
them (the CRM's contact stays the deal's, and the site's stand-in is not read back as the buyer, §6.5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from obmen.connectors.site.rest.client import SiteRest
from obmen.connectors.site.rest.mapping import Row, real_shipments
from obmen.connectors.site.rest.writes import amount, line_sum
from obmen.errors import PermanentError

__all__ = ["DRAFT", "ORIGIN", "CrmOrders", "begin", "finish", "missing_settings", "origin_of", "stamps"]

#: `xmlId` of an order obmen made whose parts are all in, and of one still being made.
ORIGIN, DRAFT = "obmen:", "obmen-draft:"
#: The person type of an individual on a default site (a company's is 2; the stand-in is a person).
PERSON = 1


@dataclass(frozen=True, slots=True)
class CrmOrders:
    """`site.crm_buyer_id`, `crm_pay_system_id`, `crm_delivery_id`: what an order made by REST gets."""

    buyer: int
    pay_system: int
    delivery: int


def missing_settings() -> PermanentError:
    """Why an order cannot be made on the site when the stand-in settings are not given."""
    return PermanentError(
        "site.crm_buyer_id (with crm_pay_system_id and crm_delivery_id) is not set, so the site's REST "
        "cannot make this order: set the site user standing in as the buyer of orders made elsewhere "
        "(docs/configuration.md, docs/protocols/site-rest.md §6.5) / не задан site.crm_buyer_id: "
        "заказ из CRM не создать на сайте"
    )


def stamps(canonical_id: str) -> tuple[str, str]:
    """The `xmlId`s an order made for `canonical_id` carries: finished, and while being made."""
    return f"{ORIGIN}{canonical_id}", f"{DRAFT}{canonical_id}"


def origin_of(order: Row) -> tuple[str | None, bool]:
    """(the canonical id obmen stamped on this order, whether it is still a draft)."""
    xml_id = str(order.get("xmlId") or "")
    if xml_id.startswith(DRAFT):
        return xml_id[len(DRAFT) :], True
    if xml_id.startswith(ORIGIN):
        return xml_id[len(ORIGIN) :], False
    return None, False


def _yn(flag: Any) -> str:
    return "Y" if flag else "N"


def _order(fields: Mapping[str, Any], canonical_id: str, crm: CrmOrders) -> dict[str, Any]:
    """`sale.order.add`'s fields: the site numbers the order itself, so the deal's number is not sent."""
    numbers = {str(p[0]): str(p[1]) for p in fields.get("external_numbers") or () if len(p) == 2}
    body: dict[str, Any] = {
        "lid": fields.get("site") or "s1",
        "personTypeId": PERSON,
        "currency": (fields.get("total") or {}).get("currency") or "RUB",
        "userId": crm.buyer,
        "xmlId": stamps(canonical_id)[1],
        "canceled": _yn(fields.get("cancelled")),
    }
    if fields.get("status"):
        body["statusId"] = fields["status"]
    if fields.get("comment"):
        body["comments"] = fields["comment"]
    if numbers.get("onec"):
        body["id1c"] = numbers["onec"]
    return body


def _line(order_id: int, line: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """One basket line as given (`productId` 0 with `customPrice`: the line holds what the order says)."""
    quantity = Decimal(str(line.get("quantity")))
    price = amount(line.get("price"))
    # The site keeps a line's discount per unit; the canonical discount is the line's sum (§6.1).
    unit_discount = amount(line.get("discount")) / quantity if quantity else Decimal(0)
    body: dict[str, Any] = {
        "orderId": order_id,
        "productId": 0,
        "currency": currency,
        "quantity": str(quantity),
        "name": line.get("name") or "",
        "price": str(price),
        "discountPrice": str(unit_discount),
        "basePrice": str(price + unit_discount),
        "customPrice": "Y",
    }
    offer = line.get("offer")
    if isinstance(offer, Mapping) and offer.get("id"):
        # The offer's `Ид` is its id on the site (the exchange's, §6.4); lines are read back by it.
        body["productXmlId"] = str(offer["id"])
    if line.get("vat_rate") not in (None, ""):
        body["vatRate"] = str(Decimal(str(line["vat_rate"])) / 100)
        body["vatIncluded"] = "N" if line.get("vat_included") is False else "Y"
    return body


async def begin(client: SiteRest, fields: Mapping[str, Any], canonical_id: str, crm: CrmOrders) -> int:
    """Make the order, stamped as a draft, and all its parts; returns its id."""
    body = await client.call("sale.order.add", {"fields": _order(fields, canonical_id, crm)})
    order_id = int(body["result"]["order"]["id"])
    now = {"order": {"id": order_id, "xmlId": stamps(canonical_id)[1]}, "basket": [], "payments": []}
    await finish(client, fields, canonical_id, crm, {**now, "shipments": []})
    return order_id


async def finish(
    client: SiteRest,
    fields: Mapping[str, Any],
    canonical_id: str,
    crm: CrmOrders,
    now: Mapping[str, Any],
) -> None:
    """Add what a draft order lacks (lines past those in, its shipment, its payment), then stamp it done.

    `now` is the order's REST rows (`{"order", "basket", "payments", "shipments"}`).
    """
    order: Row = now["order"]
    order_id = int(order["id"])
    currency = (fields.get("total") or {}).get("currency") or "RUB"
    lines: Sequence[Mapping[str, Any]] = list(fields.get("lines") or [])
    # Lines go in one by one in their order, so those already in are the first ones.
    for line in lines[len(now["basket"]) :]:
        await client.call("sale.basketitem.add", {"fields": _line(order_id, line, currency)})
    delivery = fields.get("delivery") or {}
    price = amount(delivery.get("price")) if isinstance(delivery, Mapping) else Decimal(0)
    if not real_shipments(now["shipments"]):
        shipment = {
            "orderId": order_id,
            "deliveryId": crm.delivery,
            "allowDelivery": "N",
            "deducted": "N",
            "basePriceDelivery": str(price),
        }
        await client.call("sale.shipment.add", {"fields": shipment})
    if not now["payments"]:
        payments = list(fields.get("payments") or [])
        # One payment for what the order sums to, paid when the order's payments are (§6.5).
        payment = {
            "orderId": order_id,
            "paySystemId": crm.pay_system,
            "sum": str(line_sum(lines) + price),
            "paid": _yn(payments and all(p.get("paid") for p in payments)),
        }
        await client.call("sale.payment.add", {"fields": payment})
    done = {"id": order_id, "fields": {"xmlId": stamps(canonical_id)[0]}}
    await client.call("sale.order.update", done)
