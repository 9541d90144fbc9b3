"""The Bitrix24 catalog as the sync engine sees it: categories, products, offers, price types, stores.

Method families (docs/protocols/bitrix24.md §5.7): `catalog.section.*` for the category tree,
`catalog.product.*` for
simple products, `catalog.product.sku.*` for parents and `catalog.product.offer.*` for their variations,
`catalog.price.modify` for all prices of one product at once, `catalog.document.*` for stock when
inventory management is on. A portal is set up either way by `variations`: without it a product is
simple and its one offer is the product itself (same id); with it every product is a parent and every
offer a variation. Writes go out as batches of up to 50 commands, chained with `$result[...]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from obmen.connectors.base import Create, MatchKey, Remote, ScanPage, Update, WriteOp, WriteResult
from obmen.connectors.bitrix24.catalog import writes as cw
from obmen.connectors.bitrix24.catalog.fields import (
    CatalogInfo,
    category_from_section,
    offer_from_row,
    origin_of,
    product_from_row,
    xml_id_for,
)
from obmen.connectors.bitrix24.catalog.match import PropertyKeys, matched
from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT, PAGE, Bitrix24Client, Call
from obmen.errors import ObmenError, ProtocolError

__all__ = ["CATALOG_CARRIED", "Catalog"]

CATALOG_CARRIED: Mapping[str, frozenset[str]] = {
    "category": frozenset({"name", "xml_id", "parent", "active"}),
    "product": frozenset({"name", "xml_id", "description", "categories", "active"}),
    # One price (the base price type) and one quantity: what the CRM shows (model.Offer.price, .quantity).
    "offer": frozenset({"product", "name", "xml_id", "price", "quantity", "store_stock", "active"}),
}
#: The `type` of a simple product (docs/protocols/bitrix24.md §5.7: 1 simple, 3 parent, 6 parent without
# variations).
_SIMPLE = "1"


class Catalog:
    """The catalog of one portal."""

    def __init__(
        self,
        client: Bitrix24Client,
        *,
        variations: bool = False,
        currency: str = "RUB",
        properties: Mapping[str, str] | None = None,
        stores: Sequence[int] = (),
    ) -> None:
        self.client = client
        #: The stores `[mapping] warehouses` maps to (CatalogInfo.mapped_stores).
        self._stores = tuple(sorted(set(stores)))
        #: The product properties holding articles and barcodes, for matching (catalog_match.py).
        self._keys = PropertyKeys(client, properties or {})
        self.variations = variations
        self._currency = currency
        self._info: CatalogInfo | None = None
        self._dictionaries: dict[str, list[Mapping[str, Any]]] = {}

    async def info(self) -> CatalogInfo:
        """The portal's catalogs, price types, stores and inventory mode (read once, one request)."""
        if self._info is None:
            reply = await self.client.batch(
                {
                    "catalogs": ("catalog.catalog.list", {}),
                    "price_types": ("catalog.priceType.list", {"select": ["id", "name", "xmlId", "base"]}),
                    "stores": ("catalog.store.list", {"select": ["id", "title", "xmlId"]}),
                    "mode": ("catalog.document.mode.status", {}),
                }
            )
            if "catalogs" in reply.errors:
                raise reply.errors["catalogs"]
            self._info = self._read_info(reply.results)
        return self._info

    def _read_info(self, results: Mapping[str, Any]) -> CatalogInfo:
        catalogs = _listed(results.get("catalogs"), "catalogs")
        product = next((c for c in catalogs if not c.get("productIblockId")), None)
        offers = next((c for c in catalogs if c.get("productIblockId")), None)
        if product is None:
            raise ProtocolError("catalog.catalog.list names no product catalog")
        self._dictionaries = {
            "price_type": _listed(results.get("price_types"), "priceTypes"),
            "warehouse": _listed(results.get("stores"), "stores"),
        }
        return CatalogInfo(
            product_iblock=int(product["iblockId"]),
            offers_iblock=int(offers["iblockId"]) if offers else None,
            price_types={int(p["id"]): str(p.get("name") or "") for p in self._dictionaries["price_type"]},
            base_price_type=_base_price_type(self._dictionaries["price_type"]),
            stores=tuple(sorted(int(s["id"]) for s in self._dictionaries["warehouse"])),
            # The mode answer is "Y"/"N"; a portal without the method has no inventory management.
            inventory=results.get("mode") in ("Y", True),
            currency=self._currency,
            mapped_stores=self._stores,
        )

    # -- reading -------------------------------------------------------------------------------------

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> dict[str, Remote]:
        """Read catalog objects in bulk; ids that do not exist are absent."""
        ids = [int(x) for x in external_ids if str(x).isdigit()]
        if entity in ("price_type", "warehouse"):
            return {k: v for k, v in (await self._dictionary(entity)).items() if int(k) in ids}
        return await self._rows_to_remotes(entity, await self._list(entity, {"id": ids} if ids else None))

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> dict[str, Remote]:
        """Objects whose `xmlId` is the canonical id of an obmen create."""
        if entity not in ("category", "product", "offer") or not canonical_ids:
            return {}
        found = await self._rows_to_remotes(entity, await self._list(entity, {"xmlId": list(canonical_ids)}))
        return {r.origin: r for r in found.values() if r.origin is not None and r.origin in canonical_ids}

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> dict[MatchKey, str]:
        """Existing objects by their `xmlId` (the 1C `Ид` of objects 1C's own exchange made), and
        products by the article and barcode properties the operator named (catalog_match.py)."""
        found = await self._match_xml(entity, keys)
        wanted = self._keys.wanted(keys) if entity in ("product", "offer") else {}
        if wanted:
            _, _, iblock = self._family(entity, await self.info())
            names = await self._keys.names(iblock) if iblock is not None else {}
            for field, values in wanted.items():
                if field in names:
                    rows = await self._list(entity, {names[field]: values}, extra=(names[field],))
                    found.update(matched(rows, field, names[field], values))
        return found

    async def _match_xml(self, entity: str, keys: Sequence[MatchKey]) -> dict[MatchKey, str]:
        wanted = [v for k, v in keys if k == "xml_id"]
        if not wanted:
            return {}
        if entity in ("price_type", "warehouse"):
            rows = self._dictionaries.get(entity) or []
            await self.info()
            rows = self._dictionaries.get(entity) or rows
            by_xml = {str(r.get("xmlId")): str(r["id"]) for r in rows if r.get("xmlId")}
        elif entity in ("category", "product", "offer"):
            rows = await self._list(entity, {"xmlId": wanted})
            by_xml = {str(r.get("xmlId")): str(r["id"]) for r in sorted(rows, key=lambda r: -int(r["id"]))}
        else:
            return {}
        return {("xml_id", v): by_xml[v] for v in wanted if v in by_xml}

    async def rows(self, entity: str, flt: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
        """Raw catalog rows of an entity whose field matches any of the listed values."""
        return await self._list(entity, flt)

    async def _list(
        self, entity: str, flt: Mapping[str, Any] | None, *, extra: Sequence[str] = ()
    ) -> list[Mapping[str, Any]]:
        """Rows of an entity matching `flt` (values are lists: chunked to pages of 50); `extra`: more
        columns to select (a `propertyN`)."""
        info = await self.info()
        method, key, iblock = self._family(entity, info)
        base = {"iblockId": iblock} if iblock is not None else {}
        if not flt:
            return []
        ((name, values),) = flt.items()
        select = [*_select(entity, method), *extra]
        calls: list[Call] = [
            (f"{method}.list", {"filter": {**base, name: values[i : i + PAGE]}, "select": select})
            for i in range(0, len(values), PAGE)
        ]
        rows: list[Mapping[str, Any]] = []
        for result in await self.client.call_many(calls):
            if isinstance(result, ObmenError):
                raise result
            rows.extend(_listed(result, key))
        return rows

    def _family(self, entity: str, info: CatalogInfo) -> tuple[str, str, int | None]:
        if entity == "category":
            return "catalog.section", "sections", info.product_iblock
        if entity == "offer" and self.variations:
            if info.offers_iblock is None:
                raise ProtocolError("the portal has no offers catalog, so it cannot hold variations")
            return "catalog.product.offer", "offers", info.offers_iblock
        return "catalog.product", "products", info.product_iblock

    async def _rows_to_remotes(self, entity: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Remote]:
        info = await self.info()
        if entity == "category":
            fields = {str(r["id"]): category_from_section(r) for r in rows}
        elif entity == "product":
            fields = {str(r["id"]): product_from_row(r) for r in rows}
        else:
            ids = [int(r["id"]) for r in rows]
            prices, stock = await self._prices_and_stock(ids, info)
            fields = {
                str(r["id"]): offer_from_row(
                    r,
                    prices.get(int(r["id"]), []),
                    stock.get(int(r["id"]), {}) if info.inventory else None,
                    info,
                )
                for r in rows
            }
        unknown = info.stock_unknown() if entity == "offer" else {}
        return {
            ident: Remote(entity, ident, fields[ident], None, origin_of(row.get("xmlId")), unknown=unknown)
            for row in rows
            for ident in (str(row["id"]),)
        }

    async def _prices_and_stock(
        self, ids: Sequence[int], info: CatalogInfo
    ) -> tuple[dict[int, list[Mapping[str, Any]]], dict[int, dict[int, Decimal]]]:
        # A page holds 50 rows: chunk the products so that all their prices (and stores) fit in one.
        per_price = max(1, PAGE // max(1, len(info.price_types)))
        calls: list[Call] = [
            ("catalog.price.list", {"filter": {"productId": list(ids[i : i + per_price])}})
            for i in range(0, len(ids), per_price)
        ]
        n_prices = len(calls)
        if info.inventory:
            per_store = max(1, PAGE // max(1, len(info.stores)))
            calls += [
                ("catalog.storeproduct.list", {"filter": {"productId": list(ids[i : i + per_store])}})
                for i in range(0, len(ids), per_store)
            ]
        results = await self.client.call_many(calls)
        prices: dict[int, list[Mapping[str, Any]]] = {}
        stock: dict[int, dict[int, Decimal]] = {}
        for index, result in enumerate(results):
            if isinstance(result, ObmenError):
                raise result
            if index < n_prices:
                for row in _listed(result, "prices"):
                    prices.setdefault(int(row["productId"]), []).append(row)
            else:
                for row in _listed(result, "storeProducts"):
                    amounts = stock.setdefault(int(row["productId"]), {})
                    amounts[int(row["storeId"])] = Decimal(str(row.get("amount") or 0))
        return prices, stock

    async def _dictionary(self, entity: str) -> dict[str, Remote]:
        await self.info()
        out: dict[str, Remote] = {}
        for row in self._dictionaries.get(entity, []):
            name = row.get("name") if entity == "price_type" else row.get("title")
            fields = {"name": str(name or ""), "xml_id": row.get("xmlId") or None}
            out[str(row["id"])] = Remote(entity, str(row["id"]), fields)
        return out

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every id of a catalog entity, a page at a time (keyset on id, docs/protocols/bitrix24.md §2.4)."""
        if entity in ("price_type", "warehouse"):
            return ScanPage(sorted(await self._dictionary(entity), key=int), None)
        info = await self.info()
        method, key, iblock = self._family(entity, info)
        flt = {"iblockId": iblock, ">id": int(cursor or 0)}
        reply = await self.client.call(
            f"{method}.list",
            {"filter": flt, "select": ["id", "iblockId"], "order": {"id": "asc"}, "start": -1},
        )
        ids = [str(row["id"]) for row in _listed(reply.result, key)]
        return ScanPage(ids, ids[-1] if len(ids) == PAGE else None)

    # -- writing -------------------------------------------------------------------------------------

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply catalog writes in batches of up to 50 commands; one result per op."""
        info = await self.info()
        ops = await self._adopt_existing(ops)
        stock = await self._current_stock(ops, info)
        simple = await self._simple_products(ops)
        plans = [cw.plan(op, info, self.variations, stock, simple) for op in ops]
        results: list[WriteResult] = []
        chunk: list[tuple[WriteOp, cw.Plan]] = []
        for op, op_plan in zip(ops, plans, strict=True):
            if isinstance(op_plan, WriteResult):
                results.extend(await self._flush(chunk))
                chunk = []
                results.append(op_plan)
                continue
            if chunk and sum(len(p.calls) for _, p in chunk) + len(op_plan.calls) > BATCH_LIMIT:
                results.extend(await self._flush(chunk))
                chunk = []
            chunk.append((op, op_plan))
        results.extend(await self._flush(chunk))
        return results

    async def _flush(self, chunk: Sequence[tuple[WriteOp, cw.Plan]]) -> list[WriteResult]:
        if not chunk:
            return []
        calls: dict[str, Call] = {}
        for index, (_, op_plan) in enumerate(chunk):
            calls.update(op_plan.named(index))
        try:
            reply = await self.client.batch(calls)
        except ObmenError as exc:
            return [WriteResult(op, error=exc) for op, _ in chunk]
        return [op_plan.result(op, index, reply) for index, (op, op_plan) in enumerate(chunk)]

    async def _adopt_existing(self, ops: Sequence[WriteOp]) -> list[WriteOp]:
        """Creates of objects that already carry their `xmlId` become updates (lookup before create)."""
        creates = [
            op for op in ops if isinstance(op, Create) and op.entity in ("category", "product", "offer")
        ]
        stamped = [op for op in creates if not (op.entity == "offer" and not self.variations)]
        if not stamped:
            return list(ops)
        found: dict[tuple[str, str], str] = {}
        for entity in {op.entity for op in stamped}:
            xml_ids = [str(xml_id_for(op.fields, op.canonical_id)) for op in stamped if op.entity == entity]
            for row in await self._list(entity, {"xmlId": xml_ids}):
                found.setdefault((entity, str(row.get("xmlId"))), str(row["id"]))
        out: list[WriteOp] = []
        for op in ops:
            key = (op.entity, str(xml_id_for(op.fields, op.canonical_id))) if isinstance(op, Create) else None
            out.append(cw.adopted(op, found[key]) if key in found else op)
        return out

    async def _simple_products(self, ops: Sequence[WriteOp]) -> frozenset[str]:
        """Updated products that are simple (type 1): made in the portal before obmen matched them."""
        ids = [
            int(op.external_id)
            for op in ops
            if isinstance(op, Update) and op.entity == "product" and op.external_id.isdigit()
        ]
        if not self.variations or not ids:
            return frozenset()
        rows = await self._list("product", {"id": ids})
        return frozenset(str(r["id"]) for r in rows if str(r.get("type")) == _SIMPLE)

    async def _current_stock(
        self, ops: Sequence[WriteOp], info: CatalogInfo
    ) -> dict[str, dict[int, Decimal]]:
        """Stock per store of offers whose stock is written (documents move the difference)."""
        if not info.inventory:
            return {}
        ids = [int(i) for i in (cw.stock_target(op, self.variations) for op in ops) if i and i.isdigit()]
        if not ids:
            return {}
        calls: list[Call] = [
            (
                "catalog.storeproduct.list",
                {"filter": {"productId": ids[i : i + PAGE // max(1, len(info.stores))]}},
            )
            for i in range(0, len(ids), max(1, PAGE // max(1, len(info.stores))))
        ]
        out: dict[str, dict[int, Decimal]] = {str(i): {} for i in ids}
        for result in await self.client.call_many(calls):
            if isinstance(result, ObmenError):
                raise result
            for row in _listed(result, "storeProducts"):
                out.setdefault(str(row["productId"]), {})[int(row["storeId"])] = Decimal(
                    str(row.get("amount") or 0)
                )
        return out


def _select(entity: str, method: str) -> list[str]:
    if entity == "category":
        return ["id", "iblockId", "name", "xmlId", "iblockSectionId", "active"]
    fields = [
        "id",
        "iblockId",
        "name",
        "xmlId",
        "active",
        "iblockSectionId",
        "detailText",
        "quantity",
        "type",
    ]
    # Only variations have `parentId`; the product family refuses it as unknown (§5.7).
    return [*fields, "parentId"] if method == "catalog.product.offer" else fields


def _listed(result: Any, key: str) -> list[Mapping[str, Any]]:
    if isinstance(result, Mapping) and isinstance(result.get(key), list):
        return list(result[key])
    if result in (None, [], {}):
        return []
    raise ProtocolError(f"expected result.{key} to be a list")


def _base_price_type(rows: Sequence[Mapping[str, Any]]) -> int | None:
    """The price type marked `base` (the one every portal has), else the oldest one."""
    base = [int(r["id"]) for r in rows if r.get("base") in ("Y", True)]
    ids = base or sorted(int(r["id"]) for r in rows)
    return ids[0] if ids else None
