"""Catalog products a person made in the portal, found by article or barcode before obmen makes its own.

Bitrix24's catalog has no article or barcode field of its own: shops keep them in product properties
(`propertyN` in `catalog.product.*`, D:…/catalog/product/catalog-product-list.md), often under the codes
1C-Bitrix's own 1C exchange uses (`CML2_ARTICLE`, `CML2_BAR_CODE`). The operator names the codes in
`[mapping] catalog_properties`; each is looked up once per iblock (`catalog.productProperty.list`), and
a product list filtered by that property (`property98: [values]`, exact match) finds the products.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import MatchKey
from obmen.connectors.bitrix24.client.rest import Bitrix24Client

__all__ = ["PropertyKeys", "matched", "property_values"]


class PropertyKeys:
    """Canonical matching fields (`article`, `barcode`) → the catalog property holding them, per iblock."""

    def __init__(self, client: Bitrix24Client, codes: Mapping[str, str]) -> None:
        self.client = client
        self.codes = {field: code for field, code in codes.items() if code}
        self._names: dict[int, dict[str, str]] = {}

    def wanted(self, keys: Sequence[MatchKey]) -> dict[str, list[str]]:
        """The key values this catalog can look up, by field."""
        out: dict[str, list[str]] = {}
        for field, value in keys:
            if field in self.codes:
                out.setdefault(field, []).append(value)
        return out

    async def names(self, iblock: int) -> dict[str, str]:
        """Field → `propertyN` in this iblock; a code the iblock lacks is left out (nothing to match)."""
        if iblock not in self._names:
            flt = {"iblockId": iblock, "code": sorted(set(self.codes.values()))}
            params = {"filter": flt, "select": ["id", "code"]}
            reply = await self.client.call("catalog.productProperty.list", params)
            result = reply.result if isinstance(reply.result, Mapping) else {}
            by_code = {str(p.get("code")): int(p["id"]) for p in result.get("productProperties") or []}
            self._names[iblock] = {f: f"property{by_code[c]}" for f, c in self.codes.items() if c in by_code}
        return self._names[iblock]


def property_values(value: Any) -> list[str]:
    """The values of a property as a product row carries it: `{"value": …}`, a list of those, or plain."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        inner = item.get("value") if isinstance(item, Mapping) else item
        if inner is not None and str(inner).strip():
            out.append(str(inner).strip())
    return out


def matched(
    rows: Sequence[Mapping[str, Any]], field: str, name: str, wanted: Sequence[str]
) -> dict[MatchKey, str]:
    """(field, value) → product id for each wanted value some row holds (the oldest product wins)."""
    out: dict[MatchKey, str] = {}
    values = set(wanted)
    for row in sorted(rows, key=lambda r: -int(r["id"])):
        for value in property_values(row.get(name)):
            if value in values:
                out[(field, value)] = str(row["id"])
    return out
