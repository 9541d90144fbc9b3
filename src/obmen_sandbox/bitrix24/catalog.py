"""The `catalog.*` REST methods of the Bitrix24 sandbox (scope `catalog`, docs/protocols/bitrix24.md §5.7).

This module holds the seeded dictionaries (two catalogs, price types, units, VAT rates, a warehouse) and
`catalog.catalog.list`; the method families live in `catalog_*` modules imported below so that importing
`obmen_sandbox.bitrix24.catalog` registers every catalog method.

Tables (camelCase rows exactly as the API answers them): `catalog.catalog`, `catalog.productProperty`,
`catalog.priceType`, `catalog.measure`, `catalog.vat`, `catalog.store`, `catalog.section`,
`catalog.product` (simple products, parents and variations share one id space as iblock elements do),
`catalog.price`, `catalog.storeproduct`, `catalog.document`, `catalog.document.element`.
"""

from __future__ import annotations

from typing import Any

from obmen_sandbox.bitrix24 import (
    catalog_dictionaries,
    catalog_documents,
    catalog_fields,
    catalog_prices,
    catalog_products,
    catalog_sections,
)
from obmen_sandbox.bitrix24.catalog_common import Listed, list_answer, now_iso
from obmen_sandbox.bitrix24.catalog_seed import seed_row
from obmen_sandbox.bitrix24.registry import Call, PortalLike, Table, method

__all__ = [
    "MODULES",
    "OFFERS_IBLOCK",
    "PRODUCT_IBLOCK",
    "SKU_PROPERTY",
    "catalog_list",
    "seed_defaults",
    "seed_row",
    "set_store_control",
]

#: The method families; importing this module registers all of them.
MODULES = (
    catalog_dictionaries,
    catalog_documents,
    catalog_fields,
    catalog_prices,
    catalog_products,
    catalog_sections,
)

# The ids of the docs' own example (D:…/catalog/catalog/catalog-catalog-list.md): the offers catalog 24
# points at the product catalog 23 through the link property 97.
PRODUCT_IBLOCK = 23
OFFERS_IBLOCK = 24
SKU_PROPERTY = 97

CATALOG_FIELDS = (
    "id",
    "iblockId",
    "iblockTypeId",
    "lid",
    "name",
    "productIblockId",
    "skuPropertyId",
    "subscription",
    "vatId",
)

# Bitrix's stock units (ids and OKEI codes as in D:…/catalog/measure/catalog-measure-list.md); pieces
# are the default unit of new products.
_MEASURES = (
    (1, 6, "Метр", "м", "m", "MTR"),
    (2, 112, "Литр", "л", "l", "LTR"),
    (3, 163, "Грамм", "г", "g", "GRM"),
    (4, 166, "Килограмм", "кг", "kg", "KGM"),
    (5, 796, "Штука", "шт", "pc. 1", "PCE"),
)

_VATS = (
    (1, "Без НДС", None, 100),
    (2, "НДС 0%", 0.0, 200),
    (3, "НДС 10%", 10.0, 300),
    (4, "НДС 20%", 20.0, 400),
)


def _put(table: Table, row_id: int, row: dict[str, Any]) -> None:
    table.rows[row_id] = {"id": row_id, **row}
    table.seed_ids_from(row_id + 1)


def _seed_catalogs(portal: PortalLike) -> None:
    catalogs = portal.table("catalog.catalog")
    # `iblockTypeId` is described as the string CRM_PRODUCT_CATALOG but a portal answers 0 (the docs'
    # captured answer and their TS type agree on a number): the REST layer casts the string to int.
    base = {"iblockTypeId": 0, "lid": "s1", "subscription": "N", "vatId": 1}
    _put(catalogs, PRODUCT_IBLOCK, {"iblockId": PRODUCT_IBLOCK, "name": "Товары CRM", **base})
    catalogs.rows[PRODUCT_IBLOCK].update(productIblockId=None, skuPropertyId=None)
    offers = {"iblockId": OFFERS_IBLOCK, "name": "Товары CRM (предложения)", **base}
    _put(
        catalogs, OFFERS_IBLOCK, {**offers, "productIblockId": PRODUCT_IBLOCK, "skuPropertyId": SKU_PROPERTY}
    )
    # The link property of the offers iblock: an element link to the parent product (type E, SKU).
    link = {
        "iblockId": OFFERS_IBLOCK,
        "name": "Элемент каталога",
        "code": "CML2_LINK",
        "xmlId": "CML2_LINK",
        "propertyType": "E",
        "userType": "SKU",
        "linkIblockId": PRODUCT_IBLOCK,
        "multiple": "N",
        "active": "Y",
        "sort": 500,
        "isRequired": "N",
    }
    _put(portal.table("catalog.productProperty"), SKU_PROPERTY, link)


def _seed_dictionaries(portal: PortalLike) -> None:
    stamp = now_iso(portal)
    price_type = {"name": "BASE", "base": "Y", "sort": 100, "xmlId": "BASE", "timestampX": stamp}
    _put(
        portal.table("catalog.priceType"),
        1,
        {**price_type, "createdBy": 1, "modifiedBy": 1, "dateCreate": stamp},
    )
    measures = portal.table("catalog.measure")
    for measure_id, code, title, symbol, intl, letters in _MEASURES:
        unit = {"code": code, "measureTitle": title, "symbol": symbol, "symbolIntl": intl}
        _put(
            measures,
            measure_id,
            {**unit, "symbolLetterIntl": letters, "isDefault": "Y" if code == 796 else "N"},
        )
    vats = portal.table("catalog.vat")
    for vat_id, name, rate, sort in _VATS:
        _put(vats, vat_id, {"name": name, "active": "Y", "rate": rate, "sort": sort, "timestampX": stamp})
    store = {
        "title": "Основной склад",
        "active": "Y",
        "address": "",
        "code": "main",
        "xmlId": None,
        "sort": 100,
        "issuingCenter": "N",
        "dateCreate": stamp,
        "dateModify": stamp,
        "userId": 1,
        "modifiedBy": 1,
    }
    _put(portal.table("catalog.store"), 1, store)


def seed_defaults(portal: PortalLike) -> None:
    """Fill a new (or reset) portal with what a fresh cloud portal has; a seeded portal is left alone."""
    if len(portal.table("catalog.catalog")) == 0:
        _seed_catalogs(portal)
    if len(portal.table("catalog.priceType")) == 0:
        _seed_dictionaries(portal)


def set_store_control(portal: PortalLike, enabled: bool) -> None:
    """Switch inventory management (what `catalog.document.mode.status` reports; §5.7)."""
    settings = portal.table("catalog.settings")
    settings.rows[1] = {"id": 1, "storeControl": "Y" if enabled else "N"}


@method("catalog.catalog.list", scope="catalog")
def catalog_list(portal: PortalLike, call: Call) -> Listed:
    """Trade catalogs: the product catalog and the offers catalog linked to it (§5.7)."""
    rows = [row for _, row in portal.table("catalog.catalog")]
    return list_answer(call, rows, "catalogs", CATALOG_FIELDS)
