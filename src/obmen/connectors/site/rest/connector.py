"""The site through its REST (docs/protocols/site-rest.md §6): orders and buyers read live, written back.

Reads are bulk: the orders of a batch with their basket items, payments and shipments are four list calls
per 50 orders, sent together. Writes change what the site's REST can change on an order (§6.3): its status,
cancellation and comment (`sale.order.update`), its payment being paid and its 1C payment number
(`sale.payment.update`), its shipment shipped with 1C's shipment number (`sale.shipment.update`) and 1C's
order number (`id1c`). A write of anything else that differs from the site's value (the basket, the total)
is refused with the reason, so it is parked in sight instead of being lost. An order made elsewhere (a
CRM deal) is made on the site for a stand-in buyer, stamped and resumable (`creates.py`, §6.5). A buyer,
and an order's buyer, is read only
(`BUYER_READ_ONLY`): the site keeps what the buyer typed into each order, so a CRM edit of the contact
reaches 1C and is not written back, and the site's old value does not undo it (§6.3). The catalog, which the
site takes from 1C's files, still goes through the exchange (`catalog`, a mirrored connector whose outbox
the exchange driver pushes), when one is configured.

`changes` is the net under lost events (§6.2): the orders whose `dateUpdate` moved since the cursor, at most
every `poll_every` seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from obmen.connectors.base import (
    Capabilities,
    Change,
    ChangePage,
    Create,
    MatchKey,
    Remote,
    ScanPage,
    Update,
    WriteOp,
    WriteResult,
)
from obmen.connectors.mirrored.connector import Mirrored
from obmen.connectors.site.rest.client import PAGE, SiteRest
from obmen.connectors.site.rest.creates import (
    CrmOrders,
    begin,
    finish,
    missing_settings,
    origin_of,
    stamps,
)
from obmen.connectors.site.rest.mapping import counterparty_fields, moment, order_fields
from obmen.connectors.site.rest.writes import plan_order, refused
from obmen.errors import ObmenError, PermanentError

__all__ = ["BUYER_READ_ONLY", "REST_FIELDS", "SiteRestConnector"]

#: What the REST path carries: orders and their buyers (the catalog, if any, is the exchange's).
REST_FIELDS: Mapping[str, frozenset[str]] = {
    "order": frozenset(
        {
            "number",
            "date",
            "status",
            "customer",
            "site",
            "lines",
            "delivery",
            "payments",
            "total",
            "comment",
            "external_numbers",
            "cancelled",
        }
    ),
    "counterparty": frozenset({"kind", "name", "phones", "emails", "requisites", "address"}),
}
#: A site's buyer is what the buyer typed into their orders (one phone, one e-mail per order): obmen reads
#: it and never writes it, nor an order's buyer (docs/protocols/site-rest.md §6.3, docs/architecture.md
#: §2.15).
BUYER_READ_ONLY: Mapping[str, frozenset[str]] = {
    "counterparty": REST_FIELDS["counterparty"],
    "order": frozenset({"customer"}),
}
#: What a draft order (one obmen is still making, §6.5) does not tell yet: its parts are not all in, and
#: its number and date, the site's own, vote only once it is whole (from a base that holds the deal's).
DRAFT_UNKNOWN = frozenset({"lines", "delivery", "payments", "total", "number", "date"})


def _chunks(ids: Sequence[str]) -> list[list[int]]:
    numbers = sorted({int(x) for x in ids if str(x).isdigit()})
    return [numbers[i : i + PAGE] for i in range(0, len(numbers), PAGE)]


class SiteRestConnector:
    """One site over its webhook, with the exchange's mirrored connector for the catalog (or none)."""

    system = "site"

    def __init__(
        self,
        client: SiteRest,
        *,
        catalog: Mirrored | None = None,
        poll_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        crm: CrmOrders | None = None,
    ) -> None:
        self.client = client
        self.catalog = catalog
        #: What orders made elsewhere get on the site (`site.crm_buyer_id`…); None: they are refused.
        self.crm = crm
        self.poll_every = poll_every
        self._clock = clock
        self._last_poll: float | None = None
        self._more = False
        fields = dict(REST_FIELDS)
        # Orders made elsewhere are made on the site (§6.5); without `crm` each is refused with the reason.
        creates: frozenset[str] = frozenset({"order"})
        if catalog is not None:
            extra = {k: v for k, v in catalog.capabilities.fields.items() if k not in fields}
            fields |= extra
            creates |= frozenset(extra) & catalog.capabilities.creates
        self.capabilities = Capabilities(
            fields=fields,
            creates=creates,
            read_only=BUYER_READ_ONLY,
            batch_size=500,
            push=True,
            poll=True,
            notes={
                "orders": "REST webhook and sale events",
                "buyers": "read only: kept in the site's orders",
                "orders made elsewhere": f"buyer: site user {crm.buyer}" if crm else "refused",
                "catalog": "exchange" if catalog else "not carried",
            },
        )

    def _mirrored(self, entity: str) -> Mirrored | None:
        return self.catalog if entity not in REST_FIELDS else None

    # -- reading ------------------------------------------------------------------------------------

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Orders with their entities, or buyers from their newest order; ids that are gone are absent."""
        mirrored = self._mirrored(entity)
        if mirrored is not None:
            return await mirrored.fetch(entity, external_ids)
        if entity == "order":
            return await self._orders(external_ids)
        if entity == "counterparty":
            return await self._buyers(external_ids)
        raise ValueError(f"the site's REST holds no {entity!r} objects")

    async def _load(self, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The REST rows of these orders: `{"order", "basket", "payments", "shipments"}` by order id."""
        out: dict[str, dict[str, Any]] = {}
        for ids in _chunks(external_ids):
            orders, basket, payments, shipments = await asyncio.gather(
                self.client.rows("sale.order.list", {"filter": {"@id": ids}}, "orders"),
                self.client.rows("sale.basketitem.list", {"filter": {"@orderId": ids}}, "basketItems"),
                self.client.rows("sale.payment.list", {"filter": {"@orderId": ids}}, "payments"),
                self.client.rows("sale.shipment.list", {"filter": {"@orderId": ids}}, "shipments"),
            )
            for row in orders:
                out[str(row["id"])] = {"order": row, "basket": [], "payments": [], "shipments": []}
            for kind, rows in (("basket", basket), ("payments", payments), ("shipments", shipments)):
                for row in rows:
                    if str(row.get("orderId")) in out:
                        out[str(row["orderId"])][kind].append(row)
        return out

    async def _orders(self, external_ids: Sequence[str]) -> dict[str, Remote]:
        return {key: self._remote(key, now) for key, now in (await self._load(external_ids)).items()}

    def _remote(self, key: str, now: Mapping[str, Any]) -> Remote:
        """One order's canonical view: a draft lacks its parts, and a stand-in buyer is nobody's (§6.5)."""
        row = now["order"]
        fields: dict[str, Any] = dict(order_fields(row, now["basket"], now["payments"], now["shipments"]))
        stamp = moment(row.get("dateUpdate")).timestamp() if row.get("dateUpdate") else None
        origin, draft = origin_of(row)
        unknown: dict[str, Any] = {}
        if self._stand_in(row.get("userId")):
            # The stand-in is not the buyer: the order's buyer is the CRM's, which the site cannot show.
            unknown["customer"] = fields.pop("customer", None)
        if draft:
            fields = {k: v for k, v in fields.items() if k not in DRAFT_UNKNOWN}
        return Remote("order", key, fields, stamp, origin=origin, incomplete=draft, unknown=unknown)

    def _stand_in(self, user: Any) -> bool:
        """Whether `user` is the site user standing in as the buyer of orders made elsewhere."""
        return self.crm is not None and str(user) == str(self.crm.buyer)

    async def current(self, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """These orders' REST rows and canonical `fields` (what a write compares with, and needs)."""
        loaded = await self._load(external_ids)
        for now in loaded.values():
            now["fields"] = order_fields(now["order"], now["basket"], now["payments"], now["shipments"])
        return loaded

    async def _buyers(self, external_ids: Sequence[str]) -> dict[str, Remote]:
        users = [int(x) for x in external_ids if str(x).isdigit()]
        newest: dict[str, Mapping[str, Any]] = {}
        for start in range(0, len(users), PAGE):
            wanted = set(users[start : start + PAGE])
            params: dict[str, Any] = {
                "filter": {"@userId": sorted(wanted)},
                "order": {"id": "desc"},
                "select": ["id", "userId", "dateUpdate"],
            }
            offset = 0
            while wanted:
                body = await self.client.call("sale.order.list", {**params, "start": offset})
                for row in body["result"]["orders"]:
                    if self._stand_in(row["userId"]):
                        continue  # not a buyer of their own: their orders are other people's (§6.5)
                    newest.setdefault(str(row["userId"]), row)
                    wanted.discard(int(row["userId"]))
                if body.get("next") is None:
                    break
                offset = int(body["next"])
        by_order = {str(row["id"]): user for user, row in newest.items()}
        props: dict[str, list[Any]] = {}
        for ids in _chunks(list(by_order)):
            flt = {"filter": {"@orderId": ids}}
            for row in await self.client.rows("sale.propertyvalue.list", flt, "propertyValues"):
                props.setdefault(str(row.get("orderId")), []).append(row)
        found: dict[str, Remote] = {}
        for order_id, user in by_order.items():
            row = newest[user]
            stamp = moment(row["dateUpdate"]).timestamp() if row.get("dateUpdate") else None
            found[user] = Remote("counterparty", user, counterparty_fields(props.get(order_id, [])), stamp)
        return found

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Orders obmen made, by their `xmlId` stamp (done or draft, §6.5); the catalog by the exchange."""
        mirrored = self._mirrored(entity)
        if mirrored is not None:
            return await mirrored.find_by_origin(entity, canonical_ids)
        if entity != "order":
            return {}
        wanted = sorted({s for cid in canonical_ids for s in stamps(cid)})
        ids: list[str] = []
        for at in range(0, len(wanted), PAGE):
            flt = {"filter": {"@xmlId": wanted[at : at + PAGE]}, "select": ["id"]}
            ids += [str(r["id"]) for r in await self.client.rows("sale.order.list", flt, "orders")]
        found = await self._orders(ids)
        return {r.origin: r for r in found.values() if r.origin is not None}

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """Orders by their number (`accountNumber`); catalog objects by their `Ид`."""
        mirrored = self._mirrored(entity)
        if mirrored is not None:
            return await mirrored.match(entity, keys)
        numbers = sorted({value for name, value in keys if name == "number"}) if entity == "order" else []
        out: dict[MatchKey, str] = {}
        for start in range(0, len(numbers), PAGE):
            flt = {
                "filter": {"@accountNumber": numbers[start : start + PAGE]},
                "select": ["id", "accountNumber"],
            }
            for row in await self.client.rows("sale.order.list", flt, "orders"):
                out.setdefault(("number", str(row["accountNumber"])), str(row["id"]))
        return out

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every order id (keyset on `id`), every buyer (keyset on `userId`), a page at a time."""
        mirrored = self._mirrored(entity)
        if mirrored is not None:
            return await mirrored.scan(entity, cursor, limit)
        key = "id" if entity == "order" else "userId"
        params = {"filter": {f">{key}": int(cursor or 0)}, "order": {key: "asc"}, "select": [key]}
        body = await self.client.call("sale.order.list", params)
        rows = body["result"]["orders"]
        ids = list(dict.fromkeys(str(row[key]) for row in rows if row.get(key)))
        cursor = ids[-1] if body.get("next") is not None and ids else None
        if entity == "counterparty":
            ids = [i for i in ids if not self._stand_in(i)]
        return ScanPage(ids, cursor)

    # -- change capture -----------------------------------------------------------------------------

    def wake(self) -> None:
        """Read the modification dates at the next scheduler round."""
        self._more = True

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Orders (and their buyers) whose `dateUpdate` moved past the cursor (§6.2)."""
        now = self._clock()
        due = self._last_poll is None or now - self._last_poll >= self.poll_every
        if not (due or self._more):
            return ChangePage([], cursor)
        self._last_poll, self._more = now, False
        state: dict[str, Any] = json.loads(cursor) if cursor else await self._start()
        at, seen = state.get("at"), dict(state.get("seen") or {})
        found: list[Change] = []
        start, full = 0, False
        select = ["id", "userId", "dateUpdate", "version"]
        params: dict[str, Any] = {"order": {"dateUpdate": "asc", "id": "asc"}, "select": select}
        if at:
            params["filter"] = {">=dateUpdate": at}
        while len(found) < limit:
            body = await self.client.call("sale.order.list", {**params, "start": start})
            for row in body["result"]["orders"]:
                stamp, ident, version = str(row["dateUpdate"]), str(row["id"]), str(row.get("version"))
                # Stamps are to the second: within the cursor's second, an order counts again only when its
                # VERSION (saves) moved on.
                if stamp == at and seen.get(ident) == version:
                    continue
                if stamp != at:
                    at, seen = stamp, {}
                seen[ident] = version
                found.append(Change("order", ident))
                if row.get("userId") and not self._stand_in(row["userId"]):
                    found.append(Change("counterparty", str(row["userId"])))
            full = body.get("next") is not None
            if not full:
                break
            start = int(body["next"])
        if full:
            self._more = True  # the caller reads on at once while pages are full
        page = list(dict.fromkeys(found))
        return ChangePage(page, json.dumps({"at": at, "seen": seen}, sort_keys=True), more=full)

    async def _start(self) -> dict[str, Any]:
        """A first cursor at the newest change: older orders come with the full resync, not as a flood."""
        body = await self.client.call(
            "sale.order.list", {"order": {"dateUpdate": "desc"}, "select": ["id", "dateUpdate", "version"]}
        )
        rows = body["result"]["orders"]
        if not rows:
            return {"at": None, "seen": {}}
        at = rows[0]["dateUpdate"]
        return {
            "at": at,
            "seen": {str(r["id"]): str(r.get("version")) for r in rows if r["dateUpdate"] == at},
        }

    # -- writing ------------------------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Apply order updates through REST; catalog writes go to the exchange's outbox."""
        results: dict[int, WriteResult] = {}
        catalog = [(i, op) for i, op in enumerate(ops) if self._mirrored(op.entity) is not None]
        if catalog and self.catalog is not None:
            written = await self.catalog.write([op for _, op in catalog])
            results |= {i: r for (i, _), r in zip(catalog, written, strict=True)}
        orders = [(i, op) for i, op in enumerate(ops) if op.entity == "order" and i not in results]
        current = await self.current([op.external_id for _, op in orders if hasattr(op, "external_id")])
        for index, op in enumerate(ops):
            if index in results:
                continue
            if isinstance(op, Create) and op.entity == "order":
                results[index] = await self._create(op)
                continue
            if op.entity != "order" or not hasattr(op, "external_id"):
                results[index] = WriteResult(op, error=refused(op))
                continue
            results[index] = await self._update(op, current.get(op.external_id))
        return [results[i] for i in range(len(ops))]

    async def _create(self, op: Create) -> WriteResult:
        """A site order for an order made elsewhere, with its lines, shipment and payment (§6.5)."""
        if self.crm is None:
            return WriteResult(op, error=missing_settings())
        try:
            made = await begin(self.client, op.fields, op.canonical_id, self.crm)
        except ObmenError as exc:
            # What was made is stamped: the retry finds it (`find_by_origin`) and finishes it.
            return WriteResult(op, error=exc)
        return WriteResult(op, external_id=str(made))

    async def _finish(self, op: WriteOp, now: Mapping[str, Any]) -> WriteResult:
        """A draft order (a create that stopped half-way) gets the parts it lacks (§6.5)."""
        origin, _ = origin_of(now["order"])
        if self.crm is None or origin is None:
            return WriteResult(op, error=missing_settings())
        try:
            await finish(self.client, op.fields, origin, self.crm, now)
        except ObmenError as exc:
            return WriteResult(op, error=exc)
        return WriteResult(op, external_id=str(now["order"]["id"]))

    async def _update(self, op: WriteOp, now: Mapping[str, Any] | None) -> WriteResult:
        external_id = str(getattr(op, "external_id", ""))
        if now is None:
            return WriteResult(op, error=PermanentError(f"site order {external_id} does not exist"))
        if origin_of(now["order"])[1]:
            return await self._finish(op, now)
        plan = plan_order(op.fields, now, op.read if isinstance(op, Update) else None)
        try:
            for method, params in plan.calls:
                await self.client.call(method, params)
        except ObmenError as exc:
            return WriteResult(op, error=exc)
        if plan.refused:
            return WriteResult(op, error=PermanentError(plan.refused))
        return WriteResult(op, external_id=external_id)
