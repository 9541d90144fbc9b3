"""1C's warehouses as the other systems count them: `[mapping] warehouses` (docs/configuration.md).

1C sends the stock of every warehouse (docs/protocols/commerceml.md §2.4). The table names, by a
warehouse's `Ид` or its name, the Bitrix24 store its stock goes to, or 0 for a warehouse that counts
nowhere (a defect or transit warehouse): it leaves the offer's stock, so the site neither shows it nor
counts it in `<Количество>`, and it is not in the quantity either. Unlisted warehouses count in the
quantity and keep their place on the site (the site's stores are 1C's warehouses by `Ид`), with no
Bitrix24 store of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.model.fields import decimal_text

__all__ = ["StoreTable"]


def _quantity(level: Mapping[str, Any]) -> Decimal:
    try:
        return Decimal(str(level.get("quantity") or 0))
    except InvalidOperation:
        return Decimal(0)


class StoreTable:
    """`[mapping] warehouses`: 1C warehouse (`Ид` or name) → Bitrix24 store id, 0 = not counted."""

    def __init__(self, warehouses: Mapping[str, int] | None = None) -> None:
        self.table = dict(warehouses or {})
        self.stores = tuple(sorted({store for store in self.table.values() if store}))

    def store_of(self, warehouse_id: str, name: str | None) -> int | None:
        """The store a warehouse maps to (0: not counted), None when the table does not list it."""
        if warehouse_id in self.table:
            return self.table[warehouse_id]
        return self.table.get(name) if name is not None else None

    def apply(self, fields: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
        """An offer's fields with uncounted warehouses left out of `stock`, `quantity` their sum, and
        `store_stock` per mapped store (every mapped store, 0 where 1C holds none)."""
        out = dict(fields)
        levels = fields.get("stock")
        if levels is None:
            return out
        kept: list[Any] = []
        per_store = dict.fromkeys(self.stores, Decimal(0))
        for level in levels:
            ref = level.get("warehouse") if isinstance(level, Mapping) else None
            ident = str(ref.get("id")) if isinstance(ref, Mapping) else ""
            store = self.store_of(ident, names.get(ident))
            if store == 0:
                continue
            kept.append(level)
            if store:
                per_store[store] += _quantity(level)
        out["stock"] = kept
        out["quantity"] = decimal_text(sum((_quantity(level) for level in kept), Decimal(0)))
        out["store_stock"] = [[str(store), decimal_text(amount)] for store, amount in per_store.items()]
        return out
