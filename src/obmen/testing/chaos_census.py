"""The chaos run's census: every system counted against the others, through their control APIs.

What a person comparing the systems would count (issue 13): the site's orders, the portal's deals and
their invoices, contacts, 1C's orders; a site order's number found twice anywhere is a duplicate, a site
order without a deal, an invoice or a 1C order is lost, and an object no placed order accounts for (a
deal, an invoice or an order nobody asked for) is an extra copy. Reading the sandboxes' control APIs
spends none of the portal's request budget (docs/protocols/bitrix24.md §3).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from obmen.demo.stack import Stack

__all__ = ["Census", "take_census"]

#: The deal's title «Заказ №N» (connectors/bitrix24/orders.py): how a person finds a site order's deal.
TITLE_NUMBER = re.compile(r"№\s*(\S+)")


@dataclass
class Census:
    """One look at every system, for the site orders the run placed (`placed`: their numbers)."""

    placed: set[str]
    orders: int = 0
    deals: int = 0
    invoices: int = 0
    contacts: int = 0
    onec_orders: int = 0
    #: Copies beyond the first of one site order (or of one customer's contact) anywhere, and objects no
    #: placed order accounts for.
    duplicates: int = 0
    #: Placed orders missing on some side: no site order, no deal, no invoice or no 1C order.
    lost: int = 0
    #: How many placed orders each side misses: {"1C order": 3}.
    missing: Counter[str] = field(default_factory=Counter)
    parked: int = 0
    #: obmen's queue (pending and running keys), when it answered.
    depth: int | None = None
    #: Examples of what is wrong, for the report: "№12: no 1C order", "№7: 2 deals".
    problems: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        """Every placed order once on every side, nothing extra, nothing parked."""
        return not (self.lost or self.duplicates or self.parked)


def _copies(what: str, counts: Counter[str], problems: list[str]) -> int:
    extra = 0
    for number, n in counts.items():
        if n > 1:
            extra += n - 1
            problems.append(f"№{number}: {n} {what}")
    return extra


def _missing(what: str, placed: Iterable[str], counts: Counter[str], problems: list[str]) -> set[str]:
    gone = {number for number in placed if not counts[number]}
    problems.extend(f"№{number}: no {what}" for number in sorted(gone)[:5])
    return gone


def _strangers(what: str, placed: set[str], counts: Counter[str], problems: list[str]) -> int:
    extra = {number: n for number, n in counts.items() if number not in placed}
    problems.extend(f"{what} №{number}: not placed by the run" for number in sorted(extra)[:5])
    return sum(extra.values())


def _catalog_copies(products: list[dict[str, Any]], problems: list[str]) -> int:
    """Catalog rows of one iblock sharing an `xmlId`: one 1C product or offer made twice.

    A product with a single offer is a parent and its variation, in two iblocks, with one `xmlId`.
    """
    keys = Counter(f"{r.get('iblockId')}/{r['xmlId']}" for r in products if r.get("xmlId"))
    return _copies("catalog rows", keys, problems)


def _contact_copies(contacts: list[dict[str, Any]], problems: list[str]) -> int:
    """Contacts sharing an e-mail: one customer made twice."""
    emails: Counter[str] = Counter()
    for contact in contacts:
        for value in {str(e.get("VALUE", "")).lower() for e in contact.get("EMAIL") or []} - {""}:
            emails[value] += 1
    return _copies("contacts", emails, problems)


async def _portal(http: httpx.AsyncClient, stack: Stack, catalog: bool) -> dict[str, list[dict[str, Any]]]:
    names = "crm.deal,crm.smart_invoice,crm.contact" + (",catalog.product" if catalog else "")
    reply = await http.get(f"{stack.bitrix24}/_sandbox/dump", params={"tables": names})
    reply.raise_for_status()
    tables: dict[str, list[dict[str, Any]]] = (await asyncio.to_thread(json.loads, reply.content))["tables"]
    return tables


async def _json(http: httpx.AsyncClient, url: str) -> Any:
    reply = await http.get(url)
    reply.raise_for_status()
    return reply.json()


async def _parked(http: httpx.AsyncClient, stack: Stack) -> tuple[int, int | None]:
    """obmen's parked total and queue depth; (0, None) while it restarts (it is killed on purpose)."""
    try:
        status = await _json(http, f"{stack.obmen}/api/status")
    except httpx.HTTPError:
        return 0, None
    return int(status["parked"]["total"]), int(status["depth"])


async def take_census(
    http: httpx.AsyncClient, stack: Stack, placed: set[str], *, catalog: bool = False
) -> Census:
    """Count every system for the `placed` site orders (their numbers); with `catalog`, the portal's
    catalog rows too (a larger read: the final census makes it)."""
    tables, site_orders, onec_orders, (parked, depth) = await asyncio.gather(
        _portal(http, stack, catalog),
        _json(http, f"{stack.site}/_sandbox/orders"),
        _json(http, f"{stack.onec}/_sandbox/orders"),
        _parked(http, stack),
    )
    census = Census(placed, parked=parked, depth=depth)
    problems = census.problems
    on_site = Counter(str(o["number"]) for o in site_orders)
    deal_numbers: dict[str, str] = {}
    for deal in tables.get("crm.deal", []):
        found = TITLE_NUMBER.search(str(deal.get("TITLE") or ""))
        deal_numbers[str(deal["ID"])] = found.group(1) if found else f"deal {deal['ID']}"
    deals = Counter(deal_numbers.values())
    invoices = Counter(
        deal_numbers.get(str(i.get("PARENT_ID_2")), f"invoice {i['ID']}")
        for i in tables.get("crm.smart_invoice", [])
    )
    in_onec = Counter(str(o["number"]) for o in onec_orders)
    contacts = tables.get("crm.contact", [])
    census.orders, census.deals, census.invoices = len(site_orders), len(deal_numbers), sum(invoices.values())
    census.contacts, census.onec_orders = len(contacts), len(onec_orders)
    lost: set[str] = set()
    for what, counts in (
        ("site order", on_site),
        ("deal", deals),
        ("invoice", invoices),
        ("1C order", in_onec),
    ):
        census.duplicates += _copies(f"{what}s", counts, problems)
        census.duplicates += _strangers(what, placed, counts, problems)
        gone = _missing(what, placed, counts, problems)
        census.missing[what] = len(gone)
        lost |= gone
    census.duplicates += _contact_copies(contacts, problems)
    census.duplicates += _catalog_copies(tables.get("catalog.product", []), problems)
    census.lost = len(lost)
    return census
