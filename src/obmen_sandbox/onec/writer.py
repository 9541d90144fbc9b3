"""Catalog files as 1C writes them: `import0_1.xml` (classifier + catalog) and `offers0_1.xml` (offers).

Shapes follow docs/protocols/commerceml.md §2.2-§2.4 (UT 11, 2.07): the root in the infobase's namespace and
schema version, per-warehouse `<Склад ИдСклада КоличествоНаСкладе/>` plus a total `<Количество>`,
`<Статус>Удален</Статус>` for products marked for deletion (§2.3), and `СодержитТолькоИзменения`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from obmen_sandbox.onec.cml import serialize
from obmen_sandbox.onec.infobase import Counterparty, Group, Infobase, Offer, Product

__all__ = ["CatalogFiles", "write_catalog"]


@dataclass
class CatalogFiles:
    """The files of one catalog run, in upload order, with what they carry."""

    files: list[tuple[str, bytes]]
    products: int
    offers: int
    images: list[str]


class _Doc:
    """Element factory in the infobase's namespace (none for pre-2.06 files, §1.11)."""

    def __init__(self, namespace: str | None) -> None:
        self.prefix = f"{{{namespace}}}" if namespace else ""
        # A default namespace is keyed by None, which lxml-stubs do not allow for.
        self.nsmap: Any = {None: namespace} if namespace else None

    def root(self, version: str, now: datetime) -> etree._Element:
        root = etree.Element(f"{self.prefix}КоммерческаяИнформация", nsmap=self.nsmap)
        root.set("ВерсияСхемы", version)
        root.set("ДатаФормирования", now.strftime("%Y-%m-%dT%H:%M:%S"))
        return root

    def add(self, parent: etree._Element, name: str, value: str | None = None) -> etree._Element:
        item = etree.SubElement(parent, f"{self.prefix}{name}")
        if value is not None:
            item.text = value
        return item


def _number(value: object) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _classifier(doc: _Doc, root: etree._Element, base: Infobase) -> None:
    block = doc.add(root, "Классификатор")
    doc.add(block, "Ид", base.classifier_id)
    doc.add(block, "Наименование", f"Классификатор ({base.catalog_name})")
    _owner(doc, block, base)
    _groups(doc, doc.add(block, "Группы"), base, None)
    props = doc.add(block, "Свойства")
    for prop in base.properties.values():
        item = doc.add(props, "Свойство")
        doc.add(item, "Ид", prop.id)
        doc.add(item, "Наименование", prop.name)
        doc.add(item, "ТипЗначений", prop.value_type)
        if prop.values:
            variants = doc.add(item, "ВариантыЗначений")
            for value_id, value in prop.values.items():
                ref = doc.add(variants, "Справочник")
                doc.add(ref, "ИдЗначения", value_id)
                doc.add(ref, "Значение", value)
        if prop.for_offers:
            doc.add(item, "ДляПредложений", "true")


def _owner(doc: _Doc, parent: etree._Element, base: Infobase) -> None:
    """`Владелец`, which the 2.09 XSD requires in the classifier, the catalog and the offers package."""
    owner = base.owner or Counterparty("", "Организация")
    block = doc.add(parent, "Владелец")
    doc.add(block, "Ид", owner.id)
    doc.add(block, "Наименование", owner.name)
    doc.add(block, "ОфициальноеНаименование", owner.full_name or owner.name)
    if owner.inn:
        doc.add(block, "ИНН", owner.inn)


def _groups(doc: _Doc, block: etree._Element, base: Infobase, parent: str | None) -> None:
    kids: list[Group] = [group for group in base.groups.values() if group.parent == parent]
    for group in kids:
        item = doc.add(block, "Группа")
        doc.add(item, "Ид", group.id)
        doc.add(item, "Наименование", group.name)
        if any(other.parent == group.id for other in base.groups.values()):
            _groups(doc, doc.add(item, "Группы"), base, group.id)


def _product(doc: _Doc, block: etree._Element, product: Product) -> None:
    item = doc.add(block, "Товар")
    doc.add(item, "Ид", product.id)
    if product.barcode:
        doc.add(item, "Штрихкод", product.barcode)
    doc.add(item, "Артикул", product.article)
    doc.add(item, "Наименование", product.name)
    doc.add(item, "БазоваяЕдиница", "шт").set("Код", product.unit)
    if product.groups:
        groups = doc.add(item, "Группы")
        for group in product.groups:
            doc.add(groups, "Ид", group)
    doc.add(item, "Описание", product.description)
    for image in product.images:
        doc.add(item, "Картинка", image)
    if product.properties:
        values = doc.add(item, "ЗначенияСвойств")
        for prop, value in product.properties.items():
            entry = doc.add(values, "ЗначенияСвойства")
            doc.add(entry, "Ид", prop)
            doc.add(entry, "Значение", value)
    if product.requisites:
        values = doc.add(item, "ЗначенияРеквизитов")
        for name, value in product.requisites.items():
            entry = doc.add(values, "ЗначениеРеквизита")
            doc.add(entry, "Наименование", name)
            doc.add(entry, "Значение", value)
    if product.deleted:
        # Real ERP files carry the element (§2.3, erp-2.07 fixture); the 2.09 XSD defines the attribute.
        # Both are written so a reader of either form sees the mark.
        item.set("Статус", "Удален")
        doc.add(item, "Статус", "Удален")


def _offer(doc: _Doc, block: etree._Element, base: Infobase, offer: Offer) -> None:
    item = doc.add(block, "Предложение")
    doc.add(item, "Ид", offer.id)
    if offer.article:
        doc.add(item, "Артикул", offer.article)
    doc.add(item, "Наименование", offer.name)
    doc.add(item, "БазоваяЕдиница", "шт").set("Код", "796")
    if offer.characteristics:
        features = doc.add(item, "ХарактеристикиТовара")
        for name, value in offer.characteristics:
            entry = doc.add(features, "ХарактеристикаТовара")
            doc.add(entry, "Наименование", name)
            doc.add(entry, "Значение", value)
    prices = doc.add(item, "Цены")
    for kind_id, amount in offer.prices.items():
        kind = base.price_types.get(kind_id)
        currency = kind.currency if kind is not None else "RUB"
        price = doc.add(prices, "Цена")
        doc.add(price, "Представление", f"{_number(amount)} {currency} за шт")
        doc.add(price, "ИдТипаЦены", kind_id)
        doc.add(price, "ЦенаЗаЕдиницу", _number(amount))
        doc.add(price, "Валюта", currency)
        doc.add(price, "Коэффициент", "1")  # no `Единица`: the UT 11 file of §2.4 has none
    doc.add(item, "Количество", _number(offer.total()))
    for store, quantity in offer.stock.items():
        entry = doc.add(item, "Склад")
        entry.set("ИдСклада", store)
        entry.set("КоличествоНаСкладе", _number(quantity))


def _offers_file(doc: _Doc, base: Infobase, offers: list[Offer], changes_only: bool, now: datetime) -> bytes:
    root = doc.root(base.version, now)
    header = doc.add(root, "Классификатор")  # 2.07 repeats the classifier header in offers (§1.11)
    doc.add(header, "Ид", base.classifier_id)
    doc.add(header, "Наименование", f"Классификатор ({base.catalog_name})")
    _owner(doc, header, base)
    package = doc.add(root, "ПакетПредложений")
    package.set("СодержитТолькоИзменения", "true" if changes_only else "false")
    doc.add(package, "Ид", f"{base.catalog_id}#")
    doc.add(package, "Наименование", f"Пакет предложений ({base.catalog_name})")
    doc.add(package, "ИдКаталога", base.catalog_id)
    doc.add(package, "ИдКлассификатора", base.classifier_id)
    _owner(doc, package, base)
    kinds = doc.add(package, "ТипыЦен")
    for kind in base.price_types.values():
        entry = doc.add(kinds, "ТипЦены")
        doc.add(entry, "Ид", kind.id)
        doc.add(entry, "Наименование", kind.name)
        doc.add(entry, "Валюта", kind.currency)
    stores = doc.add(package, "Склады")
    for store in base.warehouses.values():
        entry = doc.add(stores, "Склад")
        doc.add(entry, "Ид", store.id)
        doc.add(entry, "Наименование", store.name)
    block = doc.add(package, "Предложения")
    for offer in offers:
        _offer(doc, block, base, offer)
    return serialize(root)


def write_catalog(base: Infobase, changes_only: bool, since: int, now: datetime) -> CatalogFiles:
    """The import and offers files; with `changes_only`, only objects stamped after revision `since`."""
    doc = _Doc(base.namespace)
    products = [item for item in base.products.values() if not changes_only or item.rev > since]
    deleted = {item.id for item in base.products.values() if item.deleted}
    offers = [
        item
        for item in base.offers.values()
        if item.product_id not in deleted and (not changes_only or item.rev > since)
    ]
    root = doc.root(base.version, now)
    _classifier(doc, root, base)
    catalog = doc.add(root, "Каталог")
    catalog.set("СодержитТолькоИзменения", "true" if changes_only else "false")
    doc.add(catalog, "Ид", base.catalog_id)
    doc.add(catalog, "ИдКлассификатора", base.classifier_id)
    doc.add(catalog, "Наименование", base.catalog_name)
    _owner(doc, catalog, base)
    goods = doc.add(catalog, "Товары")
    for product in products:
        _product(doc, goods, product)
    images = sorted({image for product in products for image in product.images if image in base.files})
    files = [
        ("import0_1.xml", serialize(root)),
        ("offers0_1.xml", _offers_file(doc, base, offers, changes_only, now)),
    ]
    return CatalogFiles(files, len(products), len(offers), images)
