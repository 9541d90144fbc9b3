"""Catalog changes for a site, written as the files 1C would upload (docs/commerceml.md §2.2-2.4).

A push carries only what changed (`СодержитТолькоИзменения="true"`), so the site never retires what a
push did not mention. Offers go with the price types and warehouses they refer to: Bitrix maps a price
by its type's *name* from the package header (§2.4), so a header without them would lose the prices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from obmen.connectors.commerceml.outbound import (
    group_from_fields,
    offer_from_fields,
    price_type_from_fields,
    product_from_fields,
    warehouse_from_fields,
)
from obmen.connectors.commerceml.writer import write_catalog, write_offers
from obmen.errors import PermanentError

__all__ = ["CatalogChanges", "write_files"]

#: (external id, canonical fields) of one object.
Entry = tuple[str, Mapping[str, Any]]


class CatalogChanges:
    """Catalog objects to push, by entity."""

    def __init__(self) -> None:
        self.by_entity: dict[str, list[Entry]] = {}

    def add(self, entity: str, external_id: str, fields: Mapping[str, Any]) -> None:
        """Add one changed object."""
        self.by_entity.setdefault(entity, []).append((external_id, fields))

    def get(self, entity: str) -> Sequence[Entry]:
        """The changed objects of one entity."""
        return self.by_entity.get(entity, [])

    def __bool__(self) -> bool:
        return any(self.by_entity.values())


def write_files(
    directory: Path, changes: CatalogChanges, *, catalog_id: str, encoding: str = "utf-8"
) -> dict[str, Path]:
    """`import.xml` (groups, products) and `offers.xml` (price types, warehouses, offers), as needed."""
    files: dict[str, Path] = {}
    try:
        if changes.get("category") or changes.get("product"):
            files["import.xml"] = directory / "import.xml"
            write_catalog(
                files["import.xml"],
                (product_from_fields(x, f) for x, f in changes.get("product")),
                classifier_id=catalog_id,
                catalog_id=catalog_id,
                groups=[group_from_fields(x, f) for x, f in changes.get("category")],
                changes_only=True,
                encoding=encoding,
            )
        if changes.get("offer") or changes.get("price_type") or changes.get("warehouse"):
            files["offers.xml"] = directory / "offers.xml"
            write_offers(
                files["offers.xml"],
                (offer_from_fields(x, f) for x, f in changes.get("offer")),
                package_id=f"{catalog_id}#",
                catalog_id=catalog_id,
                classifier_id=catalog_id,
                price_types=[price_type_from_fields(x, f) for x, f in changes.get("price_type")],
                warehouses=[warehouse_from_fields(x, f) for x, f in changes.get("warehouse")],
                changes_only=True,
                encoding=encoding,
            )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise PermanentError(f"catalog changes cannot be written as CommerceML: {exc!r}") from exc
    return files
