"""What changed in 1C, as keys: the extension's exchange-plan node, or polling where 1C cannot be extended.

OData has no change feed (docs/protocols/onec.md §0, §A2). With the ObmenPing extension
(`onec.odata_extension`) obmen reads its exchange-plan node through the extension's HTTP service and
acknowledges a message only once the keys it produced are committed: the cursor the scheduler stores *is*
the message number, and the next read acknowledges it first, so a crash in between re-reads the message
instead of losing it. Without the extension obmen polls: catalogs and documents by comparing
`DataVersion` (they have no modification time, §A1.5), the price and stock registers by their `Period`.

Either way the feed reads at most every `every` seconds unless a ping woke it; every item is only a key
and is re-read through OData by the worker (docs/architecture.md §2.1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from obmen.connectors.base import Change, ChangePage
from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.odata.mapping import join_offer, ref
from obmen.connectors.onec.odata.payments import PAYMENT_SETS, orders_of
from obmen.errors import ProtocolError

__all__ = ["NOMENCLATURE", "PRICES", "STOCK", "ChangeFeed", "known", "resolve"]

NOMENCLATURE = "Catalog_Номенклатура"
CHARACTERISTICS = "Catalog_ХарактеристикиНоменклатуры"
PRICES = "InformationRegister_ЦеныНоменклатуры25"
STOCK = "AccumulationRegister_ТоварыНаСкладах"
#: Objects whose key is their entity's key directly.
_DIRECT = {
    "Catalog_ВидыЦен": "price_type",
    "Catalog_Склады": "warehouse",
    "Catalog_Контрагенты": "counterparty",
    "Document_ЗаказКлиента": "order",
}
#: What the poll compares `DataVersion` of, without the extension (a payment document is its order's).
_VERSIONED = (NOMENCLATURE, CHARACTERISTICS, *_DIRECT, *PAYMENT_SETS)
_REGISTERS = {PRICES: PRICES, STOCK: f"{STOCK}_RecordType"}


def known(items: Iterable[Mapping[str, Any]]) -> list[Change]:
    """The keys 1C's change items give without a read (the others `resolve` reads).

    A register's record names its product and characteristic, a document or a plain catalog its own key;
    a `Catalog_Номенклатура` or a characteristic needs a read to tell a group from a product or the owner.
    """
    out: list[Change] = []
    for item in items:
        kind = str(item.get("type") or "")
        key = ref(item.get("ref"))
        if kind in _REGISTERS:
            product = ref(item.get("Номенклатура_Key"))
            if product:
                out.append(Change("offer", join_offer(product, ref(item.get("Характеристика_Key")))))
        elif key and kind in _DIRECT:
            out.append(Change(_DIRECT[kind], key))
    return list(dict.fromkeys(out))


async def resolve(client: ODataClient, items: Iterable[Mapping[str, Any]]) -> list[Change]:
    """Keys of the objects 1C's change items name (a message's), in obmen's id space.

    A `Catalog_Номенклатура` item is a group or a product: one read tells which, and a product's
    change is also its offers' (their names and activity come from it). A payment document's change is
    its order's (a payment recorded in 1C, payments.py).
    """
    items = list(items)
    out = known(items)
    nomenclature: list[str] = []
    characteristics: list[str] = []
    for item in items:
        kind = str(item.get("type") or "")
        key = ref(item.get("ref"))
        if key and kind == NOMENCLATURE:
            nomenclature.append(key)
        elif key and kind == CHARACTERISTICS:
            characteristics.append(key)
    if nomenclature:
        out += await _nomenclature(client, nomenclature)
    if characteristics:
        rows = await client.by_keys(CHARACTERISTICS, characteristics, select="Ref_Key,Owner_Key")
        out += [Change("offer", join_offer(str(r["Owner_Key"]), str(r["Ref_Key"]))) for r in rows]
    for name in PAYMENT_SETS:
        keys = [k for item in items if str(item.get("type") or "") == name and (k := ref(item.get("ref")))]
        if keys:
            out += [Change("order", order) for order in await orders_of(client, name, keys)]
    return list(dict.fromkeys(out))


async def _nomenclature(client: ODataClient, keys: Sequence[str]) -> list[Change]:
    rows = await client.by_keys(NOMENCLATURE, keys, select="Ref_Key,IsFolder")
    folders = {str(r["Ref_Key"]) for r in rows if r.get("IsFolder")}
    out = [Change("category", k) for k in keys if k in folders]
    products = [k for k in keys if k not in folders]
    # A key that no longer resolves was deleted: both readings are offered, the worker finds it gone.
    out += [Change("category", k) for k in keys if k not in {str(r["Ref_Key"]) for r in rows}]
    if products:
        chars = await client.by_keys(CHARACTERISTICS, products, field="Owner_Key", select="Ref_Key,Owner_Key")
        owners = {str(c["Owner_Key"]) for c in chars}
        out += [Change("product", k) for k in products]
        out += [Change("offer", join_offer(str(c["Owner_Key"]), str(c["Ref_Key"]))) for c in chars]
        out += [Change("offer", k) for k in products if k not in owners]
    return out


class ChangeFeed:
    """The connector's `changes()`: the exchange-plan node or the poll, paced by `every`."""

    def __init__(
        self,
        client: ODataClient,
        *,
        extension: bool,
        every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.extension = extension
        self.every = every
        self._clock = clock
        self._last: float | None = None
        self._woken = False
        #: Without the extension: set → `Ref_Key` → `DataVersion` as last seen (rebuilt after a restart,
        #: when the full resync that starts every scheduler covers what changed meanwhile).
        self._versions: dict[str, dict[str, str]] = {}
        #: Register → keys already reported at the cursor's own period (`Period ge` sees them again).
        self._at_cursor: dict[str, tuple[str, set[str]]] = {}

    def wake(self) -> None:
        """1C pinged: the next `changes` reads at once."""
        self._woken = True

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Keys that changed since `cursor`; between reads at least `every` seconds pass unless woken."""
        now = self._clock()
        if not (self._woken or self._last is None or now - self._last >= self.every):
            return ChangePage((), cursor)
        self._woken = False
        self._last = now
        page = await (self._message(cursor, limit) if self.extension else self._poll(cursor))
        if page.more:
            self._woken = True
        return page

    # -- the extension ------------------------------------------------------------------------------------

    async def _message(self, cursor: str | None, limit: int) -> ChangePage:
        if cursor and cursor.isdigit():
            # (A cursor of the poll, left from before the extension was installed, acknowledges nothing.)
            # The scheduler committed the keys of message `cursor`: 1C may forget its registrations now.
            await self.client.service("POST", "ack", body={"message": int(cursor)})
        reply = await self.client.service("GET", "changes", query={"limit": limit})
        message, items = reply.get("message"), reply.get("changes")
        if isinstance(message, bool) or not isinstance(message, int) or not isinstance(items, list):
            raise ProtocolError(f"hs/obmen/changes: unexpected answer {str(reply)[:200]}")
        changes = await resolve(self.client, (i for i in items if isinstance(i, dict)))
        return ChangePage(changes, str(message), more=bool(reply.get("more")))

    # -- the poll -----------------------------------------------------------------------------------------

    async def _poll(self, cursor: str | None) -> ChangePage:
        items: list[dict[str, Any]] = []
        for name in _VERSIONED:
            items += await self._versioned(name)
        periods = _periods(cursor)
        for register, rows_set in _REGISTERS.items():
            found, periods[register] = await self._register(register, rows_set, periods.get(register))
            items += found
        changes = await resolve(self.client, items) if items else []
        return ChangePage(changes, json.dumps(periods, sort_keys=True))

    async def _versioned(self, name: str) -> list[dict[str, Any]]:
        rows = await self.client.all_rows(name, select="Ref_Key,DataVersion")
        now = {str(r["Ref_Key"]): str(r.get("DataVersion") or "") for r in rows}
        before = self._versions.get(name)
        self._versions[name] = now
        if before is None:
            return []
        return [{"type": name, "ref": key} for key, version in now.items() if before.get(key) != version]

    async def _register(
        self, register: str, rows_set: str, since: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        select = "Period,Номенклатура_Key,Характеристика_Key"
        if since is None:
            latest = await self.client.rows(rows_set, select="Period", orderby="Period desc", top=1)
            return [], str(latest[0]["Period"]) if latest else "0001-01-01T00:00:00"
        rows = await self.client.all_rows(
            rows_set, filter=f"Period ge datetime'{since}'", select=select, orderby="Period"
        )
        mark, seen = self._at_cursor.get(register, (since, set()))
        items: list[dict[str, Any]] = []
        newest = since
        for row in rows:
            period = str(row["Period"])
            key = f"{row.get('Номенклатура_Key')}#{row.get('Характеристика_Key')}"
            if period == mark and key in seen:
                continue
            items.append(
                {"type": register, **{k: row.get(k) for k in ("Номенклатура_Key", "Характеристика_Key")}}
            )
            newest = max(newest, period)
        at_newest = {
            f"{r.get('Номенклатура_Key')}#{r.get('Характеристика_Key')}"
            for r in rows
            if str(r["Period"]) == newest
        }
        self._at_cursor[register] = (newest, at_newest | (seen if newest == mark else set()))
        return items, newest


def _periods(cursor: str | None) -> dict[str, str | None]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
