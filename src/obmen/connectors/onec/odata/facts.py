"""1C's facts in `odata` mode: the price types and warehouses its publication has, each by `Ref_Key` with
its name, read as the connector reads them (docs/protocols/onec.md §A1.5), for the mapping page."""

from __future__ import annotations

from typing import Any

from obmen.connectors.onec.odata.client import ODataClient

__all__ = ["published"]


async def published(client: ODataClient) -> dict[str, Any]:
    """`Ref_Key` → name of every live price type and warehouse (folders and deletion marks left out)."""
    kinds = await client.all_rows("Catalog_ВидыЦен", select="Ref_Key,Description,DeletionMark")
    select = "Ref_Key,Description,IsFolder,DeletionMark"
    stores = [r for r in await client.all_rows("Catalog_Склады", select=select) if not r.get("IsFolder")]
    return {"price_types": _named(kinds), "warehouses": _named(stores)}


def _named(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {str(r["Ref_Key"]): str(r.get("Description") or "") for r in rows if not r.get("DeletionMark")}
