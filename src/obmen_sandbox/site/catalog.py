"""The storefront catalog: sections, products and offers keyed by the `Ид` 1C sent (Bitrix XML_ID)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from obmen_sandbox.site.cml import CatalogFile, GroupRec, OfferRec, ProductRec

__all__ = ["Catalog", "Offer", "PriceType", "Product", "Section"]

# Bitrix matches price types by name (docs/protocols/commerceml.md §2.4); the storefront shows this one.
RETAIL = "Розничная"


@dataclass
class Section:
    """An iblock section made from a classifier `Группа`."""

    xml_id: str
    name: str
    parent: str | None
    active: bool
    touched: float


@dataclass
class Product:
    """An iblock element made from a catalog `Товар`."""

    xml_id: str
    name: str
    article: str
    barcode: str
    description: str
    sections: list[str]
    images: list[str]
    properties: dict[str, str]
    requisites: dict[str, str]
    active: bool
    touched: float


@dataclass
class Offer:
    """A trade offer (SKU) made from a `Предложение`; `product` is the part of `Ид` before `#`."""

    xml_id: str
    product: str
    name: str = ""
    article: str = ""
    prices: dict[str, Decimal] = field(default_factory=dict)
    quantity: Decimal = Decimal(0)
    stocks: dict[str, Decimal] = field(default_factory=dict)
    active: bool = True
    touched: float = 0.0


@dataclass
class PriceType:
    """A `ТипЦены` as the site stores it."""

    xml_id: str
    name: str
    currency: str


class Catalog:
    """Everything the catalog exchange wrote, with the activity flags Bitrix keeps."""

    def __init__(self) -> None:
        self.catalog_id = ""
        self.sections: dict[str, Section] = {}
        self.products: dict[str, Product] = {}
        self.offers: dict[str, Offer] = {}
        self.price_types: dict[str, PriceType] = {}
        self.warehouses: dict[str, str] = {}

    def apply_header(self, data: CatalogFile) -> None:
        """Store the catalog id, price types and warehouses a file declares."""
        self.catalog_id = data.catalog_id or self.catalog_id
        for pt in data.price_types:
            self.price_types[pt.xml_id] = PriceType(pt.xml_id, pt.name, pt.currency)
        for wh in data.warehouses:
            self.warehouses[wh.xml_id] = wh.name

    def apply_group(self, rec: GroupRec, now: float) -> None:
        """Create or update a section; a deleted group is deactivated."""
        self.sections[rec.xml_id] = Section(rec.xml_id, rec.name, rec.parent, not rec.deleted, now)

    def apply_product(self, rec: ProductRec, now: float) -> None:
        """Create or update a product; a deletion mark deactivates it (Bitrix keeps the element)."""
        self.products[rec.xml_id] = Product(
            xml_id=rec.xml_id,
            name=rec.name,
            article=rec.article,
            barcode=rec.barcode,
            description=rec.description,
            sections=list(rec.groups),
            images=list(rec.images),
            properties=dict(rec.properties),
            requisites=dict(rec.requisites),
            active=not rec.deleted,
            touched=now,
        )

    def apply_offer(self, rec: OfferRec, now: float) -> None:
        """Merge an offer: parts the file did not carry (prices-only, rests-only files) are kept."""
        offer = self.offers.get(rec.xml_id) or Offer(rec.xml_id, rec.xml_id.partition("#")[0])
        offer.name = rec.name if rec.name is not None else offer.name
        offer.article = rec.article if rec.article is not None else offer.article
        if rec.prices is not None:
            offer.prices.update(rec.prices)
        if rec.stocks is not None:
            offer.stocks.update(rec.stocks)
        if rec.quantity is not None:
            offer.quantity = rec.quantity
        elif rec.stocks is not None:
            offer.quantity = sum(offer.stocks.values(), Decimal(0))
        offer.active = not rec.deleted
        offer.touched = now
        self.offers[rec.xml_id] = offer

    def deactivate(self, before: float, kinds: set[str]) -> int:
        """Deactivate what a full run did not touch since `before` (docs/protocols/commerceml.md §1.6)."""
        pools: list[dict[str, Any]] = []
        if "catalog" in kinds:
            pools += [self.sections, self.products]
        if "offers" in kinds:
            pools.append(self.offers)
        count = 0
        for pool in pools:
            for item in pool.values():
                if item.active and item.touched < before:
                    item.active = False
                    count += 1
        return count

    def retail_price(self, offer: Offer) -> Decimal | None:
        """The storefront price: the `Розничная` type, else the first type the offer has."""
        for type_id, value in offer.prices.items():
            pt = self.price_types.get(type_id)
            if pt is not None and pt.name == RETAIL:
                return value
        return next(iter(offer.prices.values()), None)

    def offer_json(self, offer: Offer) -> dict[str, Any]:
        """The control API's view of an offer: prices by type name, stock by warehouse name."""
        return {
            "xml_id": offer.xml_id,
            "product": offer.product,
            "name": offer.name,
            "article": offer.article,
            "active": offer.active,
            "prices": {self._type_name(k): str(v) for k, v in offer.prices.items()},
            "retail_price": _str(self.retail_price(offer)),
            "quantity": str(offer.quantity),
            "stocks": {self.warehouses.get(k, k): str(v) for k, v in offer.stocks.items()},
        }

    def product_json(self, product: Product) -> dict[str, Any]:
        """The control API's view of a product with its offers."""
        offers = [o for o in self.offers.values() if o.product == product.xml_id]
        return {
            "xml_id": product.xml_id,
            "name": product.name,
            "article": product.article,
            "barcode": product.barcode,
            "active": product.active,
            "sections": product.sections,
            "images": product.images,
            "properties": product.properties,
            "requisites": product.requisites,
            "offers": [self.offer_json(o) for o in offers],
        }

    def _type_name(self, type_id: str) -> str:
        pt = self.price_types.get(type_id)
        return pt.name if pt is not None else type_id


def _str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
