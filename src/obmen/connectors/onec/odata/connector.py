"""1C through its standard OData interface: reads, order writes, change feed (docs/protocols/onec.md §A1).

The same roles as the exchange connector (`obmen.connectors.onec.connector`) in the same id space, but
nothing waits for 1C's schedule: objects are read from 1C when the worker reconciles them, orders and
their customers are written at once (`POST`, a `PATCH` that always carries whole tabular parts, then
`…/Post`), and changes come from the feed (feed.py) and 1C's pings (hooks.py).

Creates are idempotent (docs/architecture.md §2.4): a new object's `Ref_Key` is derived from its canonical
id, so an attempt whose answer was lost is found again by that key (`find_by_origin`). Updates send
`If-Match` with the `DataVersion` the worker read, so a change made in 1C meanwhile is re-read, not
overwritten (§A1.4).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from obmen.connectors.base import (
    Capabilities,
    ChangePage,
    Create,
    MatchKey,
    Remote,
    ScanPage,
    WriteOp,
    WriteResult,
)
from obmen.connectors.onec.odata import mapping as m
from obmen.connectors.onec.odata.client import ODataClient, as_error, guid_list
from obmen.connectors.onec.odata.feed import CHARACTERISTICS, NOMENCLATURE, PRICES, STOCK, ChangeFeed
from obmen.connectors.onec.odata.payments import OrderPayments
from obmen.connectors.onec.stores import StoreTable
from obmen.errors import ObmenError, PermanentError

__all__ = ["ODATA_CREATES", "ODATA_FIELDS", "ODataConnector", "origin_key"]

SYSTEM = "onec"
_STAMP = uuid.UUID("0b6e11a4-6a2e-4f0c-b7b5-5e1c0da7a001")
#: What the OData path carries (delivery stays with the exchange path; payments are 1C's payment documents,
#: payments.py; docs/protocols/onec.md §A1.9).
ODATA_FIELDS: Mapping[str, frozenset[str]] = {
    "category": frozenset({"name", "xml_id", "parent", "active"}),
    "product": frozenset(
        {"name", "xml_id", "article", "description", "categories", "unit", "vat_rate", "active"}
    ),
    "offer": frozenset(
        {
            "product",
            "name",
            "xml_id",
            "article",
            "characteristics",
            "prices",
            "stock",
            "price",
            "quantity",
            "store_stock",
            "active",
        }
    ),
    "price_type": frozenset({"name", "currency", "xml_id"}),
    "warehouse": frozenset({"name", "xml_id"}),
    "counterparty": frozenset({"kind", "name", "phones", "emails", "requisites", "address"}),
    "order": frozenset(
        {"number", "date", "status", "customer", "lines", "total", "comment", "external_numbers", "cancelled"}
    )
    | {"payments"},
}
ODATA_CREATES = frozenset({"order", "counterparty"})
_SETS = {
    "category": NOMENCLATURE,
    "product": NOMENCLATURE,
    "price_type": "Catalog_ВидыЦен",
    "warehouse": "Catalog_Склады",
    "counterparty": "Catalog_Контрагенты",
    "order": "Document_ЗаказКлиента",
}
_FOLDER = {"category": "IsFolder eq true", "product": "IsFolder eq false"}
_ORDERS, _PARTIES, _PARTNERS = "Document_ЗаказКлиента", "Catalog_Контрагенты", "Catalog_Партнеры"
_REFERENCE_TTL = 30.0


def origin_key(entity: str, canonical_id: str) -> str:
    """The `Ref_Key` obmen gives the object it creates for `canonical_id`."""
    return str(uuid.uuid5(_STAMP, f"{entity}:{canonical_id}"))


class ODataConnector:
    """One 1C infobase behind its OData publication."""

    system = SYSTEM

    def __init__(
        self,
        client: ODataClient,
        *,
        price_type: str = "Розничная",
        statuses: Mapping[str, str] | None = None,
        poll_every: float = 5.0,
        extension: bool = False,
        warehouses: Mapping[str, int] | None = None,
        payment_kinds: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.payments = OrderPayments(client, payment_kinds)
        self.price_type = price_type
        self.stores = StoreTable(warehouses)
        self.statuses = dict(statuses or {})
        self.status_names: dict[str, str] = {}
        for name, code in self.statuses.items():
            self.status_names.setdefault(code, name)
        self.feed = ChangeFeed(client, extension=extension, every=poll_every, clock=clock)
        self._clock = clock
        self._reference: dict[str, tuple[float, Any]] = {}
        #: (set, Ref_Key) → the `DataVersion` and row last read: `If-Match`, and whole tabular parts.
        self._read: dict[tuple[str, str], dict[str, Any]] = {}
        self.capabilities = Capabilities(
            fields=ODATA_FIELDS,
            creates=ODATA_CREATES,
            derived_ids=ODATA_CREATES,
            batch_size=200,
            push=extension,
            poll=True,
            notes={"path": "OData" + (" + ObmenPing extension" if extension else ", polled")},
        )

    def wake(self) -> None:
        """1C pinged: read the feed at once."""
        self.feed.wake()

    # -- reference data (small, read whole, kept a few seconds) -----------------------------------------

    async def _cached(self, name: str, load: Callable[[], Any]) -> Any:
        hit = self._reference.get(name)
        if hit is not None and self._clock() - hit[0] < _REFERENCE_TTL:
            return hit[1]
        value = await load()
        self._reference[name] = (self._clock(), value)
        return value

    async def _units(self) -> dict[str, str]:
        async def load() -> dict[str, str]:
            rows = await self.client.all_rows(
                "Catalog_УпаковкиЕдиницыИзмерения", select="Ref_Key,Description"
            )
            return {str(r["Ref_Key"]): str(r.get("Description") or "шт") for r in rows}

        return dict(await self._cached("units", load))

    async def _currencies(self) -> dict[str, str]:
        async def load() -> dict[str, str]:
            rows = await self.client.all_rows("Catalog_Валюты", select="Ref_Key,Code")
            return {str(r["Ref_Key"]): str(r.get("Code") or "") for r in rows}

        return dict(await self._cached("currencies", load))

    async def _kinds(self) -> dict[str, tuple[str, str]]:
        """Price type → (name, currency)."""
        currencies = await self._currencies()

        async def load() -> dict[str, tuple[str, str]]:
            rows = await self.client.all_rows("Catalog_ВидыЦен")
            return {
                str(r["Ref_Key"]): (
                    str(r.get("Description")),
                    str(m.price_type_fields(r, currencies)["currency"]),
                )
                for r in rows
            }

        return dict(await self._cached("kinds", load))

    async def _warehouses(self) -> dict[str, str]:
        """Every live warehouse: `Ref_Key` → its name."""

        async def load() -> dict[str, str]:
            select = "Ref_Key,Description,IsFolder,DeletionMark"
            rows = await self.client.all_rows("Catalog_Склады", select=select)
            return {
                str(r["Ref_Key"]): str(r.get("Description") or "")
                for r in rows
                if not r.get("IsFolder") and not r.get("DeletionMark")
            }

        return dict(await self._cached("warehouses", load))

    async def _property_names(self, keys: Sequence[str]) -> dict[str, str]:
        known: dict[str, str] = self._reference.get("properties", (0.0, {}))[1]
        missing = [k for k in keys if k not in known]
        if missing:
            rows = await self.client.by_keys(
                "ChartOfCharacteristicTypes_ДополнительныеРеквизитыИСведения", missing
            )
            known = {**known, **{str(r["Ref_Key"]): str(r.get("Description") or "") for r in rows}}
            self._reference["properties"] = (self._clock(), known)
        return known

    # -- reading ----------------------------------------------------------------------------------------

    def _remember(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        for row in rows:
            self._read[(name, str(row["Ref_Key"]))] = dict(row)
        if len(self._read) > 20_000:
            self._read.clear()  # a bound, not a store: an update without it only loses its If-Match

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects as 1C holds them now; ids that do not exist are absent."""
        if not external_ids:
            return {}
        if entity == "offer":
            return await self._offers(external_ids)
        name = _SETS.get(entity)
        if name is None:
            raise ValueError(f"1C holds no {entity!r} objects over OData")
        rows = await self.client.by_keys(name, [x.lower() for x in external_ids], extra=_FOLDER.get(entity))
        self._remember(name, rows)
        if entity == "order":
            return await self._orders(rows)
        convert: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "category": m.category_fields,
            "warehouse": m.warehouse_fields,
            "counterparty": m.counterparty_fields,
        }
        if entity == "product":
            units = await self._units()
            convert["product"] = lambda row: m.product_fields(row, units)
        elif entity == "price_type":
            currencies = await self._currencies()
            convert["price_type"] = lambda row: m.price_type_fields(row, currencies)
        return {str(r["Ref_Key"]): Remote(entity, str(r["Ref_Key"]), convert[entity](r)) for r in rows}

    async def _offers(self, ids: Sequence[str]) -> dict[str, Remote]:
        wanted = [m.split_offer(x.lower()) for x in ids]
        pids = sorted({p for p, _ in wanted})
        products = {
            str(r["Ref_Key"]): r
            for r in await self.client.by_keys(NOMENCLATURE, pids, extra="IsFolder eq false")
        }
        chars_by_owner = await self.client.by_keys(CHARACTERISTICS, list(products), field="Owner_Key")
        chars = {str(c["Ref_Key"]): c for c in chars_by_owner}
        owners = {str(c["Owner_Key"]) for c in chars_by_owner}
        names = await self._property_names(
            sorted(
                {
                    str(line.get("Свойство_Key"))
                    for c in chars.values()
                    for line in c.get("ДополнительныеРеквизиты") or []
                }
            )
        )
        prices: list[dict[str, Any]] = []
        balances: list[dict[str, Any]] = []
        chunked = list(products)
        for start in range(0, len(chunked), 40):
            condition = guid_list("Номенклатура_Key", chunked[start : start + 40])
            prices += await self.client.virtual(PRICES, "SliceLast", condition)
            balances += await self.client.virtual(STOCK, "Balance", condition)
        kinds, stores = await self._kinds(), await self._warehouses()
        out: dict[str, Remote] = {}
        for pid, cid in wanted:
            product = products.get(pid)
            char = chars.get(cid) if cid else None
            if (
                product is None
                or (cid and (char is None or str(char["Owner_Key"]) != pid))
                or (not cid and pid in owners)
            ):
                continue  # gone, or a plain offer of a product that has characteristics (no such offer)
            key = m.EMPTY if cid is None else cid
            own = [
                r
                for r in prices
                if m.ref(r.get("Номенклатура_Key")) == pid
                and str(r.get("Характеристика_Key") or m.EMPTY) == key
            ]
            stock = {w: Decimal(0) for w in stores}
            for r in balances:
                if (
                    m.ref(r.get("Номенклатура_Key")) == pid
                    and str(r.get("Характеристика_Key") or m.EMPTY) == key
                ):
                    store = str(r.get("Склад_Key"))
                    stock[store] = stock.get(store, Decimal(0)) + m.number(
                        r.get("ВНаличииBalance"), "ВНаличииBalance"
                    )
            fields = m.offer_fields(
                product, char, properties=names, prices=own, stock=stock, kinds=kinds, shown=self.price_type
            )
            fields = self.stores.apply(fields, stores)
            offer_id = m.join_offer(pid, cid)
            out[offer_id] = Remote("offer", offer_id, fields)
        return out

    async def _orders(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Remote]:
        lines = [line for row in rows for line in row.get("Товары") or []]
        pids = sorted({str(p) for line in lines if (p := m.ref(line.get("Номенклатура_Key")))})
        cids = sorted({str(c) for line in lines if (c := m.ref(line.get("Характеристика_Key")))})
        products = {
            str(r["Ref_Key"]): str(r.get("Description") or "")
            for r in await self.client.by_keys(NOMENCLATURE, pids, select="Ref_Key,Description")
        }
        chars = {
            str(r["Ref_Key"]): str(r.get("Description") or "")
            for r in await self.client.by_keys(CHARACTERISTICS, cids, select="Ref_Key,Description")
        }
        names = dict(products)
        names |= {
            m.join_offer(p, c): f"{products.get(p, '')} ({chars[c]})"
            for p in pids
            for c in cids
            if c in chars
        }
        paid = await self.payments.read([str(r["Ref_Key"]) for r in rows])
        return {
            str(r["Ref_Key"]): Remote(
                "order",
                str(r["Ref_Key"]),
                m.order_fields(r, names, self.statuses)
                | {"payments": paid.get(str(r["Ref_Key"]).lower(), [])},
            )
            for r in rows
        }

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects an earlier create made for these canonical ids (found by their derived `Ref_Key`)."""
        if entity not in ODATA_CREATES:
            return {}
        keys = {origin_key(entity, cid): cid for cid in canonical_ids}
        found = await self.fetch(entity, list(keys))
        return {
            keys[x]: Remote(r.entity, r.external_id, r.fields, r.modified_at, keys[x])
            for x, r in found.items()
        }

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """`xml_id` is 1C's `Ref_Key` itself; orders also match by the site's number, parties by ИНН+КПП."""
        out: dict[MatchKey, str] = {}
        ids = [value for name, value in keys if name == "xml_id"]
        if ids:
            out |= {("xml_id", x): x for x in await self.fetch(entity, ids)}
        for name, value in keys:
            query = None
            if entity == "order" and name == "number":
                query = (_ORDERS, f"НомерПоДаннымКлиента eq '{_quote(value)}'")
            elif entity == "counterparty" and name == "inn_kpp":
                inn, _, kpp = value.partition("/")
                query = (
                    _PARTIES,
                    f"ИНН eq '{_quote(inn)}'" + (f" and КПП eq '{_quote(kpp)}'" if kpp else ""),
                )
            if query is not None:
                rows = await self.client.rows(query[0], filter=query[1], select="Ref_Key", top=1)
                if rows:
                    out[(name, value)] = str(rows[0]["Ref_Key"])
        return out

    # -- writing ----------------------------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Apply each op; one result per op, in order, never raising for a single op."""
        results = []
        for op in ops:
            try:
                results.append(await self._write(op))
            except ObmenError as exc:
                results.append(WriteResult(op, error=exc))
            except Exception as exc:  # one op's surprise must not lose the others' results
                results.append(WriteResult(op, error=as_error(exc)))
        return results

    async def _write(self, op: WriteOp) -> WriteResult:
        if op.entity not in ODATA_CREATES:
            return WriteResult(op, error=PermanentError(f"obmen does not write 1C's {op.entity} over OData"))
        if isinstance(op, Create):
            key = origin_key(op.entity, op.canonical_id)
            if op.entity == "counterparty":
                await self._create_party(key, op.fields)
                return WriteResult(op, external_id=key)
            return await self._create_order(op, key)
        name = _SETS[op.entity]
        last = self._read.get((name, op.external_id), {})
        if op.entity == "counterparty":
            body = m.counterparty_body(op.fields)
            if "КонтактнаяИнформация" in body:
                # The contact part is replaced whole (§A1.6): what the op leaves alone is sent as read.
                current = m.counterparty_fields(last) if last else {}
                body["КонтактнаяИнформация"] = m.counterparty_body({**current, **op.fields})[
                    "КонтактнаяИнформация"
                ]
            await self.client.patch(name, op.external_id, body, if_match=last.get("DataVersion"))
            return WriteResult(op, external_id=op.external_id)
        body = m.order_body(op.fields, self.status_names)
        if "Контрагент_Key" in body:
            body["Партнер_Key"] = await self._partner_of(body["Контрагент_Key"])
        if body:
            reply = await self.client.patch(name, op.external_id, body, if_match=last.get("DataVersion"))
            if reply.get("Posted"):
                # Re-posted: its movements follow the change.
                await self.client.post_document(name, op.external_id)
        if "payments" in op.fields:
            await self.payments.write(op.external_id, op.fields["payments"] or [])
        return WriteResult(op, external_id=op.external_id)

    async def _partner_of(self, party: str) -> str:
        if party == m.EMPTY:
            return m.EMPTY
        rows = await self.client.by_keys(_PARTIES, [party], select="Ref_Key,Партнер_Key")
        return str(rows[0].get("Партнер_Key") or m.EMPTY) if rows else m.EMPTY

    async def _create_party(self, key: str, fields: Mapping[str, Any]) -> None:
        """A counterparty with its business partner (УТ 11 wants both, §A1.7); the partner first."""
        partner = str(uuid.uuid5(_STAMP, f"partner:{key}"))
        if not await self.client.by_keys(_PARTNERS, [partner], select="Ref_Key"):
            await self.client.create(
                _PARTNERS, {"Ref_Key": partner, "Description": str(fields.get("name") or ""), "Клиент": True}
            )
        body = m.counterparty_body({"phones": [], "emails": [], **fields})
        await self.client.create(_PARTIES, {"Ref_Key": key, "Партнер_Key": partner, **body})

    async def _create_order(self, op: Create, key: str) -> WriteResult:
        body = m.order_body(op.fields, self.status_names)
        body.setdefault("Контрагент_Key", m.EMPTY)
        body["Партнер_Key"] = await self._partner_of(body["Контрагент_Key"])
        # A document needs `Date` (§A1.8): the order's own date.
        body["Date"] = body.get("ДатаПоДаннымКлиента") or time.strftime("%Y-%m-%dT%H:%M:%S")
        await self.client.create(_ORDERS, {"Ref_Key": key, **body})
        try:
            await self.client.post_document(_ORDERS, key)
            await self.payments.write(key, op.fields.get("payments") or [])
        except ObmenError as exc:
            # The order exists; the next attempt finds it by its key, posts it and its payments then.
            return WriteResult(op, external_id=key, error=exc)
        return WriteResult(op, external_id=key)

    # -- feeds and scans --------------------------------------------------------------------------------

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Changed objects since `cursor` (feed.py)."""
        return await self.feed.changes(cursor, limit)

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every object id of an entity, a page at a time (`$orderby=Ref_Key` with `$skip`, §A1.5)."""
        skip = int(cursor) if cursor and cursor.isdigit() else 0
        name = _SETS.get(entity, NOMENCLATURE)
        extra = _FOLDER.get(entity, "IsFolder eq false" if entity == "offer" else None)
        rows = await self.client.rows(
            name, filter=extra, select="Ref_Key", orderby="Ref_Key", top=limit, skip=skip
        )
        ids = [str(r["Ref_Key"]) for r in rows]
        if entity == "offer" and ids:
            chars = await self.client.by_keys(
                CHARACTERISTICS, ids, field="Owner_Key", select="Ref_Key,Owner_Key"
            )
            owners = {str(c["Owner_Key"]) for c in chars}
            ids = [m.join_offer(str(c["Owner_Key"]), str(c["Ref_Key"])) for c in chars] + [
                i for i in ids if i not in owners
            ]
        return ScanPage(ids, str(skip + limit) if len(rows) == limit else None)


def _quote(text: str) -> str:
    return text.replace("'", "''")
