"""Catalog changes for a site, written as the files 1C would upload (docs/protocols/commerceml.md §2.2-2.4).

A push carries only what changed (`СодержитТолькоИзменения="true"`), so the site never retires what a
push did not mention. Offers go with the price types and warehouses they refer to: Bitrix maps a price
by its type's *name* from the package header (§2.4), so a header without them would lose the prices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from obmen.connectors.commerceml.mapping import TOTAL_STOCK
from obmen.connectors.commerceml.outbound import (
    group_from_fields,
    offer_from_fields,
    price_type_from_fields,
    product_from_fields,
    warehouse_from_fields,
)
from obmen.connectors.commerceml.writer import write_catalog, write_offers

__all__ = ["CatalogChanges", "write_files"]

#: (external id, canonical fields) of one object.
Entry = tuple[str, Mapping[str, Any]]
T = TypeVar("T")


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


def _each(
    entries: Sequence[Entry], build: Callable[[str, Mapping[str, Any]], T], refused: dict[str, str]
) -> list[T]:
    out: list[T] = []
    for external_id, fields in entries:
        try:
            out.append(build(external_id, fields))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            refused[external_id] = f"cannot be written as CommerceML: {exc!r}"
    return out


def write_files(
    directory: Path, changes: CatalogChanges, *, catalog_id: str, encoding: str = "utf-8"
) -> tuple[dict[str, Path], dict[str, str]]:
    """`import.xml` (groups, products) and `offers.xml` (price types, warehouses, offers), as needed.

    Returns the files and the objects refused (external id → why): one object the canonical fields
    cannot express stays out of the files instead of holding back the rest.
    """
    refused: dict[str, str] = {}
    groups = _each(changes.get("category"), group_from_fields, refused)
    products = _each(changes.get("product"), product_from_fields, refused)
    offers = _each(changes.get("offer"), offer_from_fields, refused)
    price_types = _each(changes.get("price_type"), price_type_from_fields, refused)
    # The total-stock pseudo-warehouse is no warehouse of the site: its stock goes as `<Количество>`.
    real = [(x, f) for x, f in changes.get("warehouse") if x != TOTAL_STOCK]
    warehouses = _each(real, warehouse_from_fields, refused)
    files: dict[str, Path] = {}
    if groups or products:
        files["import.xml"] = directory / "import.xml"
        write_catalog(
            files["import.xml"],
            products,
            classifier_id=catalog_id,
            catalog_id=catalog_id,
            groups=groups,
            changes_only=True,
            encoding=encoding,
        )
    if offers or price_types or warehouses:
        files["offers.xml"] = directory / "offers.xml"
        write_offers(
            files["offers.xml"],
            offers,
            package_id=f"{catalog_id}#",
            catalog_id=catalog_id,
            classifier_id=catalog_id,
            price_types=price_types,
            warehouses=warehouses,
            changes_only=True,
            encoding=encoding,
        )
    return files, refused
