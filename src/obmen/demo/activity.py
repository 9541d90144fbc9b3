"""The demo's script of activity: each step changes one system and times until the others show it.

Every step acts the way a person or a system would (a 1C exchange, a customer's order on the storefront,
a manager's click in the CRM through REST) and then watches the other systems through their own APIs
until the change is visible there; the time between is the propagation latency the demo prints. The
end-to-end tests play the same steps and assert them (tests/e2e).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from obmen.demo.cml import customer_of, digits
from obmen.demo.split import split_payment
from obmen.demo.watch import Propagation, Timeout, Watcher

__all__ = ["CUSTOMER", "Activity", "Propagation", "Timeout", "digits"]

#: The demo's customer; ordering again with the same phone or e-mail must find her contact (flow 6).
CUSTOMER = {"name": "Ирина Смирнова", "email": "irina@example.ru", "phone": "+7 912 345-67-89"}


@dataclass
class Activity(Watcher):
    """The steps, over one running stack (what they watch with: `demo/watch.py`)."""

    #: obmen runs with `order.comment = "conflict"` (the demo's policy): flow 8 records a conflict, which
    #: a person then resolves, instead of the newest edit winning.
    comment_conflicts: bool = False

    # -- the steps ------------------------------------------------------------------------------------

    async def catalog(self) -> list[dict[str, Any]]:
        """Flow 1: a full 1C exchange → products, offers, prices and stock in Bitrix24 and on the site.

        Through OData no exchange runs: obmen reads 1C's catalog whole when it starts (its full resync).
        """
        started = time.monotonic()
        if self.odata:
            cards = await self.onec("GET", "/products")
            products = len(cards["products"] if isinstance(cards, dict) else cards)
        else:
            run = await self.onec("POST", "/exchange/catalog", {"changes_only": False})
            products = int(run["products"])

        async def b24_has_all() -> list[dict[str, Any]] | None:
            rows = await self.b24_products()
            return rows if len(rows) >= products else None

        async def site_has_all() -> dict[str, Any] | None:
            page = await self.site_catalog()
            return page if page["total"] >= products else None

        to_site, to_b24 = f"{self.onec_path} → site exchange", f"{self.onec_path} → Bitrix24"
        await self.until("1 catalog", f"{products} products on the site", site_has_all, started, path=to_site)
        return await self.until(
            "1 catalog", f"{products} products in Bitrix24", b24_has_all, started, path=to_b24
        )

    async def price_change(self, offer_id: str, price: str) -> None:
        """Flow 1, change only: a new retail price in 1C → the CRM's price (a change-only run, or a ping)."""
        started = await self.changes_only(offer_id, {"prices": {"Розничная": price}})

        async def b24_price() -> bool:
            rows = await self.portal("catalog.price")
            return any(f"{float(r['price']):g}" == f"{float(price):g}" for r in rows)

        await self.until(
            "1 catalog", f"price {price} in Bitrix24", b24_price, started, path=f"{self.onec_path} → Bitrix24"
        )

    async def existing_product(self, xml_id: str, name: str) -> int:
        """Flow 1, before the first exchange: the portal already sells a product 1C has (same `xmlId`)."""
        catalogs = (await self.b24("catalog.catalog.list"))["catalogs"]
        iblock = next(c["iblockId"] for c in catalogs if not c.get("productIblockId"))
        fields = {"iblockId": iblock, "name": name, "xmlId": xml_id, "active": "Y"}
        return int((await self.b24("catalog.product.add", {"fields": fields}))["element"]["id"])

    async def changes_only(self, key: str, edit: dict[str, Any]) -> float:
        """Edit one product or offer in 1C and run a change-only catalog exchange; returns when it began.

        Through OData there is no run to start: the edit itself is what obmen hears of (a ping, or the poll).
        """
        started = time.monotonic()
        await self.onec("PATCH", f"/products/{key.replace('#', '%23')}", edit)
        if self.odata:
            return started
        run = await self.onec("POST", "/exchange/catalog", {"changes_only": True})
        if not run.get("ok"):
            raise RuntimeError(f"the change-only exchange failed: {run}")
        return started

    async def deletion_mark(self, product_id: str) -> None:
        """Flow 1: a deletion mark in 1C → the product is deactivated in Bitrix24 and on the site."""
        started = await self.changes_only(product_id, {"deleted": True})

        async def b24_inactive() -> bool:
            rows = await self.portal("catalog.product")
            return any(r.get("xmlId") == product_id and r.get("active") == "N" for r in rows)

        async def site_inactive() -> bool:
            return (await self.site("GET", f"/products?xml_id={product_id}")).get("active") is False

        to_b24, to_site = f"{self.onec_path} → Bitrix24", f"{self.onec_path} → site exchange"
        await self.until(
            "1 catalog", "deletion mark: inactive in Bitrix24", b24_inactive, started, path=to_b24
        )
        await self.until(
            "1 catalog", "deletion mark: inactive on the site", site_inactive, started, path=to_site
        )

    async def on_sale(self, offer_xml_id: str) -> None:
        """Wait until the storefront sells an offer (its price has arrived with the site's exchange)."""

        async def priced() -> bool:
            path = offer_xml_id.replace("#", "%23")
            reply = await self._request("GET", f"{self.stack.site}/_sandbox/offers/{path}")
            return reply.status_code == 200 and bool(reply.json().get("prices"))

        await self.until("1 catalog", "the offer on sale on the site", priced, time.monotonic(), record=False)

    async def order(
        self,
        offer_xml_id: str,
        customer: dict[str, str] | None = None,
        payments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Flow 2: a customer orders on the site → contact, deal with rows and its invoice in the CRM.

        `payments` (the site sandbox's `[{system, sum, paid}]`) splits the order into several payments."""
        # A customer can order only what the storefront sells: its offers may arrive a round after the
        # products the catalog step counted.
        await self.on_sale(offer_xml_id)
        started = time.monotonic()
        body = {
            "customer": customer or CUSTOMER,
            "items": [{"offer": offer_xml_id, "quantity": 2}],
            "delivery": {"service": "Курьер", "price": 300},
            **(
                {"payments": payments}
                if payments is not None
                else {"payment": {"system": "Банковская карта", "paid": False}}
            ),
        }
        placed = await self.site("POST", "/orders", body)
        number = str(placed["number"])
        path = f"{self.site_path} → Bitrix24"
        deal = await self.until(
            "2 order", f"deal for order №{number}", lambda: self.deal_of(number), started, path=path
        )
        await self.until("2 order", "its invoice", lambda: self.invoice_of(deal["ID"]), started, path=path)
        return {"site": placed, "deal": deal}

    async def sale_exchange(self, number: str, flow: str = "2 order", source: str = "") -> dict[str, Any]:
        """1C's next sale exchange collects the order (the last leg of flows 2 and 5).

        Through OData obmen writes the order into 1C itself, as a document it then posts (two calls,
        docs/protocols/onec.md §A1.6): the order is in 1C once it is posted.
        """
        started = time.monotonic()

        async def in_1c() -> dict[str, Any] | None:
            if not self.odata:
                await self.onec("POST", "/exchange/sale")
            orders = await self.onec("GET", "/orders")
            items = orders["orders"] if isinstance(orders, dict) else orders
            found = next((o for o in items if str(o.get("number")) == number), None)
            return found if found and (found.get("posted") or not self.odata) else None

        path = f"{source or self.site_path} → {self.onec_path}"
        return await self.until(flow, f"order №{number} in 1C", in_1c, started, path=path)

    async def onec_ships(self, number: str, site_id: Any) -> None:
        """Flow 3: 1C posts, ships and is paid → the site's status and paid flag, and the CRM follow.

        Through OData the edit in 1C is all: its extension pings obmen (or the poll finds it).
        """
        started = time.monotonic()
        await self.onec("PATCH", f"/orders/{number}", {"posted": True, "shipped": True, "status": "F"})
        if not self.odata:
            await self.onec("POST", "/exchange/sale")

        async def site_done() -> bool:
            return bool((await self.site("GET", f"/orders/{site_id}"))["status"] == "F")

        async def deal_won() -> bool:
            deal = await self.deal_of(number)
            return bool(deal and deal["STAGE_ID"] == "WON")

        to_site, to_b24 = f"{self.onec_path} → {self.site_path}", f"{self.onec_path} → Bitrix24"
        await self.until("3 1C", f"order №{number} status F on the site", site_done, started, path=to_site)
        await self.until("3 1C", f"deal of order №{number} won", deal_won, started, path=to_b24)

    async def stage_move(self, deal_id: Any, number: str, site_id: Any, stage: str, status: str) -> None:
        """Flow 4: a manager moves the deal → the site's order status follows."""
        started = time.monotonic()
        await self.b24("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": stage}})

        async def site_status() -> bool:
            return bool((await self.site("GET", f"/orders/{site_id}"))["status"] == status)

        what, path = f"order №{number} status {status} on the site", f"Bitrix24 → {self.site_path}"
        await self.until("4 stage", what, site_status, started, path=path)

    async def site_payment(self, deal_id: Any, number: str, site_id: Any) -> None:
        """Flow 7: the customer pays on the site → the invoice is paid in the CRM."""
        started = time.monotonic()
        await self.site("PATCH", f"/orders/{site_id}", {"paid": True})

        async def invoice_paid() -> bool:
            invoice = await self.invoice_of(deal_id)
            return bool(invoice and str(invoice["STAGE_ID"]).endswith(":P"))

        what, path = f"invoice of order №{number} paid", f"{self.site_path} → Bitrix24"
        await self.until("7 payment", what, invoice_paid, started, path=path)

    async def crm_deal(self, offer_name: str, price: float, offer_xml_id: str | None = None) -> None:
        """Flow 5: a manager builds a deal in the CRM → an order on the site, and the deal's invoice.

        With `offer_xml_id` the row is the catalog's product (or variation) 1C gave that `Ид`, as a manager
        picks it from the catalog; such a line reaches 1C's OData, which takes no line without its product.
        """
        picked: dict[str, Any] = {}
        if offer_xml_id is not None:

            async def in_catalog() -> dict[str, Any] | None:
                rows = await self.portal("catalog.product")
                return next((r for r in rows if str(r.get("xmlId")) == offer_xml_id), None)

            # A variation may reach the portal a round after the products the catalog step counted.
            what = "the offer in the portal's catalog"
            picked = await self.until("1 catalog", what, in_catalog, time.monotonic(), record=False)
        started = time.monotonic()
        contact = await self.b24(
            "crm.contact.add",
            {
                "fields": {
                    "NAME": "Олег",
                    "LAST_NAME": "Петров",
                    "PHONE": [{"VALUE": "+79001112233", "VALUE_TYPE": "WORK"}],
                }
            },
        )
        deal = await self.b24("crm.deal.add", {"fields": {"TITLE": "Заказ из CRM", "CONTACT_ID": contact}})
        row: dict[str, Any] = {
            "PRODUCT_NAME": picked.get("name") or offer_name,
            "PRICE": price,
            "QUANTITY": 1,
        }
        if picked:
            row["PRODUCT_ID"] = picked["id"]
        await self.b24("crm.deal.productrows.set", {"id": deal, "rows": [row]})
        await self.until("5 CRM deal", "its invoice", lambda: self.invoice_of(deal), started, path="Bitrix24")

        async def on_site() -> dict[str, Any] | None:
            # The exchange gives the site the deal's number (`CRM-<deal>`); through REST the site numbers
            # the order itself and the deal's invoice learns that number (docs/protocols/site-rest.md §6.5).
            invoice = await self.invoice_of(deal) or {}
            orders = await self.site("GET", "/orders")
            number = str(invoice.get("ACCOUNT_NUMBER") or "")
            found = next((o for o in orders if number and str(o.get("number")) == number), None)
            return found if found and found["items"] else None

        path = f"Bitrix24 → {self.site_path}"
        placed = await self.until("5 CRM deal", "the deal's order on the site", on_site, started, path=path)
        await self.sale_exchange(str(placed["number"]), flow="5 CRM deal", source="Bitrix24")

    async def edit_contact(self, contact_id: Any, phone: str, email: str) -> dict[str, Any]:
        """Flow 6: a manager adds a phone and an e-mail to a contact in the CRM → the counterparty follows."""
        started = time.monotonic()
        fields = {
            # Multi-field values without an ID are added next to the existing ones (docs/protocols/bitrix24.md
            # §5.2).
            "PHONE": [{"VALUE": phone, "VALUE_TYPE": "MOBILE"}],
            "EMAIL": [{"VALUE": email, "VALUE_TYPE": "HOME"}],
        }
        await self.b24("crm.contact.update", {"id": contact_id, "fields": fields})

        async def agreed() -> dict[str, Any] | None:
            base = (await self.timeline("counterparty", f"bitrix24:C{contact_id}")).get("base") or {}
            phones = {digits(p) for p in base.get("phones") or []}
            return base if email in (base.get("emails") or []) and digits(phone) in phones else None

        what = "the contact's edit in obmen"
        return await self.until("6 counterparty", what, agreed, started, path="Bitrix24 events")

    async def onec_receives(self, number: str) -> dict[str, Any]:
        """What 1C's next sale exchange would receive for an order: its document and its counterparty.

        CommerceML has no document for a counterparty alone: 1C gets the customer only inside an order
        (docs/protocols/commerceml.md §2.6), so a contact's edit reaches 1C with the customer's next order
        document.
        The query is made as 1C makes it, without `success`, so nothing is committed (§1.7).
        """
        url, auth = f"{self.stack.obmen}/exchange/1c", (self.stack.onec_login, self.stack.onec_password)
        lines = (await self.http.get(url, params={"type": "sale", "mode": "checkauth"}, auth=auth)).text
        _, cookie, value, *rest = lines.splitlines()
        session = {"type": "sale", **dict(item.split("=", 1) for item in rest if "=" in item)}
        headers = {"Cookie": f"{cookie}={value}"}
        await self.http.get(url, params={**session, "mode": "init"}, headers=headers, auth=auth)
        answer = await self.http.get(url, params={**session, "mode": "query"}, headers=headers, auth=auth)
        found = customer_of(answer.content, number)
        if found is None:
            raise Timeout(f"order №{number} is not in 1C's next sale exchange")
        return found

    async def _comment_on_both_sides(self, deal_id: Any, site_id: Any, crm_text: str, site_text: str) -> None:
        """A manager and the shop edit the order's comment at once, before obmen hears of either.

        The portal's events are dropped meanwhile: obmen learns of the site's edit on its next pull and
        reconciles by re-reading both sides (docs/architecture.md §2.1), so it sees two changes against the
        base. If its poll of the portal finds the CRM's edit first, the site's edit arrives as one made
        without knowing it (contested, docs/architecture.md §2.11): the same two changes.
        """
        faults = f"{self.stack.bitrix24}/_sandbox/faults"
        await self.http.post(faults, json={"events": {"drop": 1.0}})
        await self.b24("crm.deal.update", {"id": deal_id, "fields": {"COMMENTS": crm_text}})
        await self.site("PATCH", f"/orders/{site_id}", {"comment": site_text})

    async def _events_back(self) -> None:
        await self.http.post(f"{self.stack.bitrix24}/_sandbox/faults", json={"events": {"drop": 0.0}})

    async def both_edit_comment(self, deal_id: Any, site_id: Any, crm_text: str, site_text: str) -> str:
        """Flow 8, default policy: the order's comment edited on two sides at once → one value on both.

        Returns the comment both sides end up with (by default the newest edit, here the site's).
        """
        started = time.monotonic()
        await self._comment_on_both_sides(deal_id, site_id, crm_text, site_text)

        async def agreed() -> str | None:
            deal = next((d for d in await self.portal("crm.deal") if str(d["ID"]) == str(deal_id)), {})
            on_site = (await self.site("GET", f"/orders/{site_id}"))["comment"]
            return str(on_site) if on_site == deal.get("COMMENTS") else None

        try:
            path = f"Bitrix24 + {self.site_path}"
            return await self.until("8 both sides", "one comment on both sides", agreed, started, path=path)
        finally:
            await self._events_back()

    async def comment_conflict(
        self, deal_id: Any, site_id: Any, crm_text: str, site_text: str
    ) -> dict[str, Any]:
        """Flow 8 with `order.comment = "conflict"`: both edits are recorded for a person, none forced."""
        started = time.monotonic()
        await self._comment_on_both_sides(deal_id, site_id, crm_text, site_text)

        async def recorded() -> dict[str, Any] | None:
            conflicts = (await self.obmen_status())["conflicts"]["items"]
            return next((c for c in conflicts if "comment" in str(c)), None)

        try:
            what, path = "the comment conflict in obmen status", f"Bitrix24 + {self.site_path}"
            return await self.until("8 both sides", what, recorded, started, path=path)
        finally:
            await self._events_back()

    async def resolve_comment(self, deal_id: Any, site_id: Any, conflict: dict[str, Any]) -> str:
        """Flow 8, resolved: the manager takes the site's comment in the deal → the conflict closes.

        A conflict stays open until the sides agree (docs/architecture.md §2.8): a change on one side that
        makes them agree is a resolution the operator can make in any system.
        """
        started = time.monotonic()
        kept = str((await self.site("GET", f"/orders/{site_id}"))["comment"])
        await self.b24("crm.deal.update", {"id": deal_id, "fields": {"COMMENTS": kept}})

        async def closed() -> bool:
            open_ = (await self.obmen_status())["conflicts"]["items"]
            return not any(c.get("canonical_id") == conflict.get("canonical_id") for c in open_)

        path = "Bitrix24 events"
        await self.until("8 both sides", "the conflict resolved in obmen", closed, started, path=path)
        return kept

    async def both_sides(self, deal_id: Any, site_id: Any) -> None:
        """Flow 8 under the stack's policy: the newest edit wins, or a conflict is recorded, then resolved."""
        crm, shop = "Позвонить до обеда", "Оставить у консьержа"
        await self.quiet()
        if not self.comment_conflicts:
            await self.both_edit_comment(deal_id, site_id, crm, shop)
            return
        conflict = await self.comment_conflict(deal_id, site_id, crm, shop)
        await self.resolve_comment(deal_id, site_id, conflict)

    async def play(self) -> list[Propagation]:
        """Every step, in the order a shop's day would bring them: all eight flows."""
        products = await self.catalog()
        offers = await self.onec("GET", "/products")
        items = offers["products"] if isinstance(offers, dict) else offers
        offer = _first_offer(items)
        await self.price_change(offer, "1234")
        placed = await self.order(offer)
        number, site_id, deal_id = str(placed["site"]["number"]), placed["site"]["id"], placed["deal"]["ID"]
        await self.sale_exchange(number)
        await self.edit_contact(placed["deal"]["CONTACT_ID"], "+7 495 111-22-33", "irina.s@example.com")
        await self.stage_move(deal_id, number, site_id, "PREPARATION", "P")
        await self.site_payment(deal_id, number, site_id)
        await split_payment(self, offer)
        await self.onec_ships(number, site_id)
        await self.crm_deal(str(products[0]["name"]), 990.0, offer)
        await self.both_sides(deal_id, site_id)
        await self.deletion_mark(_unordered(items, offer))
        return self.log


def _unordered(products: list[dict[str, Any]], offer: str) -> str:
    """A product 1C can mark for deletion without touching the one the day's orders are for."""
    for product in reversed(products):
        ids = {str(o.get("id") or o.get("xml_id")) for o in product.get("offers") or []}
        if (
            str(product.get("id")) != offer
            and offer not in ids
            and not offer.startswith(f"{product.get('id')}#")
        ):
            return str(product["id"])
    raise RuntimeError("1C holds no product besides the ordered one")


def _first_offer(products: list[dict[str, Any]]) -> str:
    for product in products:
        for offer in product.get("offers") or []:
            return str(offer.get("id") or offer.get("xml_id"))
        return str(product.get("id") or product.get("xml_id"))
    raise RuntimeError("1C holds no products")
