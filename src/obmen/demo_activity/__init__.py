"""The demo's script of activity: each step changes one system and times until the others show it.

Every step acts the way a person or a system would (a 1C exchange, a customer's order on the storefront,
a manager's click in the CRM through REST) and then watches the other systems through their own APIs
until the change is visible there; the time between is the propagation latency the demo prints. The
end-to-end tests play the same steps and assert them (tests/e2e).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from obmen.demo import WEBHOOK, Stack
from obmen.demo_activity.cml import customer_of, digits

__all__ = ["CUSTOMER", "Activity", "Propagation", "Timeout", "digits"]

T = TypeVar("T")

#: The demo's customer; ordering again with the same phone or e-mail must find her contact (flow 6).
CUSTOMER = {"name": "Ирина Смирнова", "email": "irina@example.ru", "phone": "+7 912 345-67-89"}


class Timeout(Exception):
    """A change did not become visible in time."""


@dataclass(frozen=True)
class Propagation:
    """One change and how long it took to be seen."""

    flow: str
    what: str
    seconds: float


@dataclass
class Activity:
    """The steps, over one running stack."""

    stack: Stack
    http: httpx.AsyncClient
    timeout: float = 30.0
    log: list[Propagation] = field(default_factory=list)
    report: Callable[[Propagation], None] = lambda _: None

    # -- plumbing -----------------------------------------------------------------------------------

    async def b24(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call the portal as a manager's browser would (its webhook)."""
        url = f"{self.stack.bitrix24}/rest/{WEBHOOK}/{method}.json"
        for attempt in range(20):
            reply = (await self.http.post(url, json=params or {})).json()
            # The manager shares the portal's bucket with obmen (bitrix24.md §3): wait as a polite client.
            if reply.get("error") != "QUERY_LIMIT_EXCEEDED":
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']} {reply.get('error_description', '')}")
        return reply["result"]

    async def site(self, verb: str, path: str, body: Any = None) -> Any:
        """The storefront's control API (a customer, or the shop's back office)."""
        reply = await self.http.request(verb, f"{self.stack.site}/_sandbox{path}", json=body)
        if reply.status_code >= 400:
            raise RuntimeError(f"site {verb} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json()

    async def onec(self, verb: str, path: str, body: Any = None) -> Any:
        """1C's control API (an accountant, and the scheduled exchange)."""
        reply = await self.http.request(verb, f"{self.stack.onec}/_sandbox{path}", json=body)
        if reply.status_code >= 400:
            raise RuntimeError(f"1C {verb} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json()

    async def until(self, flow: str, what: str, probe: Callable[[], Awaitable[T | None]], since: float) -> T:
        """Poll `probe` until it returns something; record how long since the change."""
        while True:
            found = await probe()
            if found is not None and found is not False:
                seen = Propagation(flow, what, time.monotonic() - since)
                self.log.append(seen)
                self.report(seen)
                return found
            if time.monotonic() - since > self.timeout:
                raise Timeout(f"{flow}: {what}: not seen within {self.timeout:.0f} s")
            await asyncio.sleep(0.05)

    # -- probes -------------------------------------------------------------------------------------
    # What a person would see in the portal is read from the sandbox's control API: watching must not
    # spend the portal's REST budget (2 requests/s, shared with obmen, bitrix24.md §3).

    async def portal(self, table: str) -> list[dict[str, Any]]:
        """Rows of one of the portal's tables, as the sandbox holds them."""
        reply = await self.http.get(f"{self.stack.bitrix24}/_sandbox/dump", params={"tables": table})
        return list(reply.json()["tables"].get(table, []))

    async def b24_products(self) -> list[dict[str, Any]]:
        """Every product of the portal's product catalog (not its variations)."""
        return [r for r in await self.portal("catalog.product") if not r.get("parentId")]

    async def site_catalog(self) -> dict[str, Any]:
        """The storefront's first page of products, with its totals."""
        return dict(await self.site("GET", "/products?offset=0&limit=500"))

    async def deal_of(self, number: str) -> dict[str, Any] | None:
        """The deal carrying a site order's number, if obmen has made it."""
        return next((d for d in await self.portal("crm.deal") if number in str(d.get("TITLE"))), None)

    async def invoice_of(self, deal_id: Any) -> dict[str, Any] | None:
        """The smart invoice linked to a deal."""
        invoices = await self.portal("crm.smart_invoice")
        return next((i for i in invoices if str(i.get("PARENT_ID_2")) == str(deal_id)), None)

    async def settled(self, what: str = "obmen's queue") -> None:
        """Wait until obmen's queue is empty (nothing pending or running), or fail."""
        started = time.monotonic()
        while (await self.obmen_status())["depth"]:
            if time.monotonic() - started > self.timeout:
                raise Timeout(f"{what}: not settled within {self.timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def quiet(self, pause: float = 1.5) -> None:
        """Wait until obmen's queue is empty and stays so while late events land (before flow 8)."""
        await self.settled()
        await asyncio.sleep(pause)
        await self.settled()

    async def obmen_status(self) -> dict[str, Any]:
        """obmen's own `/api/status` (queue, parked, conflicts), as `obmen status` shows it."""
        return dict((await self.http.get(f"{self.stack.obmen}/api/status")).json())

    async def journal(self, after: int = 0) -> list[dict[str, Any]]:
        """obmen's journal of propagations newer than entry `after`, oldest first."""
        reply = await self.http.get(f"{self.stack.obmen}/api/propagations", params={"limit": 500})
        return sorted((r for r in reply.json()["items"] if r["id"] > after), key=lambda r: r["id"])

    # -- the steps ------------------------------------------------------------------------------------

    async def catalog(self) -> list[dict[str, Any]]:
        """Flow 1: a full 1C exchange → products, offers, prices and stock in Bitrix24 and on the site."""
        started = time.monotonic()
        run = await self.onec("POST", "/exchange/catalog", {"changes_only": False})
        products = int(run["products"])

        async def b24_has_all() -> list[dict[str, Any]] | None:
            rows = await self.b24_products()
            return rows if len(rows) >= products else None

        async def site_has_all() -> dict[str, Any] | None:
            page = await self.site_catalog()
            return page if page["total"] >= products else None

        await self.until("1 catalog", f"{products} products on the site", site_has_all, started)
        return await self.until("1 catalog", f"{products} products in Bitrix24", b24_has_all, started)

    async def price_change(self, offer_id: str, price: str) -> None:
        """Flow 1, change only: a new retail price in 1C → the CRM's price, through a change-only run."""
        started = time.monotonic()
        await self.onec(
            "PATCH", f"/products/{offer_id.replace('#', '%23')}", {"prices": {"Розничная": price}}
        )
        await self.onec("POST", "/exchange/catalog", {"changes_only": True})

        async def b24_price() -> bool:
            rows = await self.portal("catalog.price")
            return any(f"{float(r['price']):g}" == f"{float(price):g}" for r in rows)

        await self.until("1 catalog", f"price {price} in Bitrix24", b24_price, started)

    async def existing_product(self, xml_id: str, name: str) -> int:
        """Flow 1, before the first exchange: the portal already sells a product 1C has (same `xmlId`)."""
        catalogs = (await self.b24("catalog.catalog.list"))["catalogs"]
        iblock = next(c["iblockId"] for c in catalogs if not c.get("productIblockId"))
        fields = {"iblockId": iblock, "name": name, "xmlId": xml_id, "active": "Y"}
        return int((await self.b24("catalog.product.add", {"fields": fields}))["element"]["id"])

    async def changes_only(self, key: str, edit: dict[str, Any]) -> float:
        """Edit one product or offer in 1C and run a change-only catalog exchange; returns when it ran."""
        started = time.monotonic()
        await self.onec("PATCH", f"/products/{key.replace('#', '%23')}", edit)
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

        await self.until("1 catalog", "deletion mark: inactive in Bitrix24", b24_inactive, started)
        await self.until("1 catalog", "deletion mark: inactive on the site", site_inactive, started)

    async def on_sale(self, offer_xml_id: str) -> None:
        """Wait until the storefront sells an offer (its price has arrived with the site's exchange)."""

        async def priced() -> bool:
            path = offer_xml_id.replace("#", "%23")
            reply = await self.http.get(f"{self.stack.site}/_sandbox/offers/{path}")
            return reply.status_code == 200 and bool(reply.json().get("prices"))

        await self.until("1 catalog", "the offer on sale on the site", priced, time.monotonic())

    async def order(self, offer_xml_id: str, customer: dict[str, str] | None = None) -> dict[str, Any]:
        """Flow 2: a customer orders on the site → contact, deal with rows and its invoice in the CRM."""
        # A customer can order only what the storefront sells: its offers may arrive a round after the
        # products the catalog step counted.
        await self.on_sale(offer_xml_id)
        started = time.monotonic()
        body = {
            "customer": customer or CUSTOMER,
            "items": [{"offer": offer_xml_id, "quantity": 2}],
            "delivery": {"service": "Курьер", "price": 300},
            "payment": {"system": "Банковская карта", "paid": False},
        }
        placed = await self.site("POST", "/orders", body)
        number = str(placed["number"])
        deal = await self.until("2 order", f"deal for order №{number}", lambda: self.deal_of(number), started)
        await self.until("2 order", "its invoice", lambda: self.invoice_of(deal["ID"]), started)
        return {"site": placed, "deal": deal}

    async def sale_exchange(self, number: str, flow: str = "2 order") -> dict[str, Any]:
        """1C's next sale exchange collects the order (the last leg of flows 2 and 5)."""
        started = time.monotonic()

        async def in_1c() -> dict[str, Any] | None:
            await self.onec("POST", "/exchange/sale")
            orders = await self.onec("GET", "/orders")
            items = orders["orders"] if isinstance(orders, dict) else orders
            return next((o for o in items if str(o.get("number")) == number), None)

        return await self.until(flow, f"order №{number} in 1C", in_1c, started)

    async def onec_ships(self, number: str, site_id: Any) -> None:
        """Flow 3: 1C posts, ships and is paid → the site's status and paid flag, and the CRM follow."""
        started = time.monotonic()
        await self.onec("PATCH", f"/orders/{number}", {"posted": True, "shipped": True, "status": "F"})
        await self.onec("POST", "/exchange/sale")

        async def site_done() -> bool:
            return bool((await self.site("GET", f"/orders/{site_id}"))["status"] == "F")

        async def deal_won() -> bool:
            deal = await self.deal_of(number)
            return bool(deal and deal["STAGE_ID"] == "WON")

        await self.until("3 1C", f"order №{number} status F on the site", site_done, started)
        await self.until("3 1C", f"deal of order №{number} won", deal_won, started)

    async def stage_move(self, deal_id: Any, number: str, site_id: Any, stage: str, status: str) -> None:
        """Flow 4: a manager moves the deal → the site's order status follows."""
        started = time.monotonic()
        await self.b24("crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": stage}})

        async def site_status() -> bool:
            return bool((await self.site("GET", f"/orders/{site_id}"))["status"] == status)

        await self.until("4 stage", f"order №{number} status {status} on the site", site_status, started)

    async def site_payment(self, deal_id: Any, number: str, site_id: Any) -> None:
        """Flow 7: the customer pays on the site → the invoice is paid in the CRM."""
        started = time.monotonic()
        await self.site("PATCH", f"/orders/{site_id}", {"paid": True})

        async def invoice_paid() -> bool:
            invoice = await self.invoice_of(deal_id)
            return bool(invoice and str(invoice["STAGE_ID"]).endswith(":P"))

        await self.until("7 payment", f"invoice of order №{number} paid", invoice_paid, started)

    async def crm_deal(self, offer_name: str, price: float) -> None:
        """Flow 5: a manager builds a deal in the CRM → an order on the site, and the deal's invoice."""
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
        row = {"PRODUCT_NAME": offer_name, "PRICE": price, "QUANTITY": 1}
        await self.b24("crm.deal.productrows.set", {"id": deal, "rows": [row]})
        await self.until("5 CRM deal", "its invoice", lambda: self.invoice_of(deal), started)
        number = f"CRM-{deal}"

        async def on_site() -> dict[str, Any] | None:
            orders = await self.site("GET", "/orders")
            return next((o for o in orders if str(o.get("number")) == number), None)

        await self.until("5 CRM deal", f"order №{number} on the site", on_site, started)
        await self.sale_exchange(number, flow="5 CRM deal")

    async def timeline(self, entity: str, key: str) -> dict[str, Any]:
        """obmen's timeline of one object (`obmen explain`): links, the agreed base, journal, outbox."""
        reply = await self.http.get(f"{self.stack.obmen}/api/timeline/{entity}/{key}")
        return dict(reply.json()) if reply.status_code == 200 else {}

    async def edit_contact(self, contact_id: Any, phone: str, email: str) -> dict[str, Any]:
        """Flow 6: a manager adds a phone and an e-mail to a contact in the CRM → the counterparty follows."""
        started = time.monotonic()
        fields = {
            # Multi-field values without an ID are added next to the existing ones (bitrix24.md §5.2).
            "PHONE": [{"VALUE": phone, "VALUE_TYPE": "MOBILE"}],
            "EMAIL": [{"VALUE": email, "VALUE_TYPE": "HOME"}],
        }
        await self.b24("crm.contact.update", {"id": contact_id, "fields": fields})

        async def agreed() -> dict[str, Any] | None:
            base = (await self.timeline("counterparty", f"bitrix24:C{contact_id}")).get("base") or {}
            phones = {digits(p) for p in base.get("phones") or []}
            return base if email in (base.get("emails") or []) and digits(phone) in phones else None

        return await self.until("6 counterparty", "the contact's edit in obmen", agreed, started)

    async def onec_receives(self, number: str) -> dict[str, Any]:
        """What 1C's next sale exchange would receive for an order: its document and its counterparty.

        CommerceML has no document for a counterparty alone: 1C gets the customer only inside an order
        (commerceml.md §2.6), so a contact's edit reaches 1C with the customer's next order document.
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
        reconciles by re-reading both sides (ARCHITECTURE §2.1), so it sees two changes against the base.
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
            return await self.until("8 both sides", "one comment on both sides", agreed, started)
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
            return await self.until("8 both sides", "the comment conflict in obmen status", recorded, started)
        finally:
            await self._events_back()

    async def play(self) -> list[Propagation]:
        """Every step, in the order a shop's day would bring them."""
        products = await self.catalog()
        offers = await self.onec("GET", "/products")
        items = offers["products"] if isinstance(offers, dict) else offers
        offer = _first_offer(items)
        await self.price_change(offer, "1234")
        placed = await self.order(offer)
        number, site_id = str(placed["site"]["number"]), placed["site"]["id"]
        await self.sale_exchange(number)
        await self.stage_move(placed["deal"]["ID"], number, site_id, "PREPARATION", "P")
        await self.site_payment(placed["deal"]["ID"], number, site_id)
        await self.onec_ships(number, site_id)
        await self.crm_deal(str(products[0]["name"]), 990.0)
        return self.log


def _first_offer(products: list[dict[str, Any]]) -> str:
    for product in products:
        for offer in product.get("offers") or []:
            return str(offer.get("id") or offer.get("xml_id"))
        return str(product.get("id") or product.get("xml_id"))
    raise RuntimeError("1C holds no products")
