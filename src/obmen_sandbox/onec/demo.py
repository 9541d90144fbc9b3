"""A small built-in infobase (Russian names, deterministic GUIDs) for a sandbox started without a fixture."""

from __future__ import annotations

import uuid
from decimal import Decimal

from obmen_sandbox.onec.infobase import (
    Counterparty,
    Group,
    Infobase,
    Offer,
    PriceType,
    Product,
    Property,
    Warehouse,
)

__all__ = ["demo_infobase", "guid"]

_ROOT = uuid.UUID("3c1d6a58-5e0b-4c43-a0f1-0b6e2a7d9c11")

# (group, parent group, [(product, article, base price, characteristic name, values)])
_TREE: list[tuple[str, str | None, list[tuple[str, str, int, str, list[str]]]]] = [
    ("Одежда", None, []),
    (
        "Мужская одежда",
        "Одежда",
        [
            ("Куртка зимняя «Север»", "КУ-1001", 8900, "Размер", ["48", "50", "52"]),
            ("Рубашка льняная", "РУ-1002", 2400, "Размер", ["46", "48"]),
        ],
    ),
    (
        "Женская одежда",
        "Одежда",
        [
            ("Платье летнее «Ромашка»", "ПЛ-2001", 3100, "Цвет", ["Белый", "Голубой"]),
            ("Пальто демисезонное", "ПА-2002", 11500, "Размер", ["42", "44", "46"]),
        ],
    ),
    (
        "Обувь",
        None,
        [
            ("Ботинки кожаные", "БО-3001", 6700, "Размер", ["40", "41", "42", "43"]),
            ("Кроссовки беговые", "КР-3002", 5200, "", []),
        ],
    ),
    ("Детская обувь", "Обувь", [("Сандалии детские", "СА-3101", 1450, "Размер", ["28", "30"])]),
    ("Товары для дома", None, []),
    (
        "Посуда",
        "Товары для дома",
        [
            ("Чайник заварочный фарфоровый", "ЧА-4001", 990, "", []),
            ("Набор кастрюль «Хозяйка»", "НА-4002", 4300, "Цвет", ["Красный", "Серый"]),
        ],
    ),
    (
        "Текстиль",
        "Товары для дома",
        [
            ("Плед шерстяной", "ПЛ-4101", 2700, "", []),
            ("Комплект постельного белья", "КО-4102", 3600, "Размер", ["1,5-спальный", "2-спальный", "Евро"]),
        ],
    ),
    ("Электроника", None, [("Наушники беспроводные", "НА-5001", 4990, "", [])]),
]


def guid(*parts: str) -> str:
    """A stable GUID for a demo object, so every sandbox start has the same `Ид`s."""
    return str(uuid.uuid5(_ROOT, "/".join(parts)))


def _reference(base: Infobase) -> None:
    base.catalog_id = base.classifier_id = guid("catalog")
    base.catalog_name = "Основной каталог товаров"
    base.owner = Counterparty(guid("owner"), "ООО «Песочница»", inn="7700000001")
    for name, currency in (("Розничная", "RUB"), ("Оптовая", "RUB"), ("Закупочная", "RUB")):
        kind = PriceType(guid("price", name), name, currency)
        base.price_types[kind.id] = kind
    for name in ("Основной склад", "Склад магазина"):
        store = Warehouse(guid("store", name), name)
        base.warehouses[store.id] = store
    maker = Property(guid("prop", "maker"), "Производитель", "Справочник")
    maker.values = {guid("maker", name): name for name in ("Фабрика «Заря»", "Комбинат «Восток»")}
    base.properties[maker.id] = maker
    for name, inn in (("Иванов Иван Иванович", ""), ("ООО «Ромашка»", "7701234567")):
        party = Counterparty(guid("party", name), name, full_name=name, inn=inn)
        base.counterparties[party.id] = party


def _offers(base: Infobase, product: Product, price: int, feature: str, values: list[str]) -> None:
    kinds = list(base.price_types)
    stores = list(base.warehouses)
    variants = [(f"{product.id}#{guid('char', product.id, value)}", value) for value in values] or [
        (product.id, "")
    ]
    for index, (offer_id, value) in enumerate(variants):
        offer = Offer(offer_id, f"{product.name} ({value})" if value else product.name, product.article)
        offer.characteristics = [(feature, value)] if value else []
        offer.prices = {
            kinds[0]: Decimal(price),
            kinds[1]: Decimal(price * 85 // 100),
            kinds[2]: Decimal(price // 2),
        }
        offer.stock = {stores[0]: Decimal(10 + index * 3), stores[1]: Decimal(index % 3)}
        offer.rev = base.stamp()
        base.offers[offer.id] = offer


def _ean13(digits: str) -> str:
    """Twelve digits plus the EAN-13 check digit."""
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def demo_infobase() -> Infobase:
    """Nine groups, a dozen products (most with characteristics), 3 price types, 2 warehouses."""
    base = Infobase()
    _reference(base)
    maker = next(iter(base.properties.values()))
    makers = list(maker.values)
    for group_name, parent, products in _TREE:
        group = Group(guid("group", group_name), group_name, guid("group", parent) if parent else None)
        base.groups[group.id] = group
        for index, (name, article, price, feature, values) in enumerate(products):
            product = Product(
                guid("product", article), name, article, barcode=_ean13(f"46000{len(base.products):07d}")
            )
            product.groups = [group.id]
            product.properties = {maker.id: makers[index % len(makers)]}
            product.requisites = {
                "ВидНоменклатуры": "Товар",
                "ТипНоменклатуры": "Товар",
                "Полное наименование": name,
            }
            product.rev = base.stamp()
            base.products[product.id] = product
            _offers(base, product, price, feature, values)
    return base
