"""Load an infobase from CommerceML files as 1C wrote them (import / offers / prices / rests / orders).

The kind of each file is told by its content, never by its name (docs/protocols/commerceml.md §1.11): a
`Классификатор`, a `Каталог`, a `ПакетПредложений` (offers, prices or rests: the same package with
different parts, §2.5) or `Документ`s. Files stream through iterparse and every consumed element is
released, so a big fixture does not hold its whole tree.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path, PurePosixPath

from lxml import etree

from obmen_sandbox.onec.cml import (
    CmlError,
    child,
    children,
    decimal,
    local,
    release,
    requisites,
    stream,
    text,
)
from obmen_sandbox.onec.documents import apply_incoming, read_document, today_text
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

__all__ = ["load_directory", "load_file"]

_PACKAGES = {"ПакетПредложений", "ИзмененияПакетаПредложений"}
_TRUE = {"true", "1", "да"}


def load_directory(directory: Path) -> Infobase:
    """An infobase holding everything in the directory's `*.xml` files, classifier files first."""
    if not directory.is_dir():
        raise CmlError(f"{directory}: not a directory")
    files = sorted(
        directory.glob("*.xml"), key=lambda path: (not path.name.startswith("classifier"), path.name)
    )
    if not files:
        raise CmlError(f"{directory}: no *.xml files")
    base = Infobase()
    for path in files:
        load_file(base, path, directory)
    return base


def load_file(base: Infobase, path: Path, root_dir: Path | None = None) -> None:
    """Merge one CommerceML file into the infobase."""
    reader = _Reader(base, path, root_dir or path.parent)
    for event, element, ancestors in stream(path, path.name):
        if event == "start":
            reader.start(element, ancestors)
        else:
            reader.end(element, ancestors)


class _Reader:
    def __init__(self, base: Infobase, path: Path, root_dir: Path) -> None:
        self.base = base
        self.path = path
        self.root_dir = root_dir
        self.saw_catalog = False
        self.version = ""
        self.namespace: str | None = None

    def start(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        name = local(element)
        if not ancestors and name == "КоммерческаяИнформация":
            self._root(element)

    def _root(self, element: etree._Element) -> None:
        self.version = element.get("ВерсияСхемы", "")
        tag = str(element.tag)
        self.namespace = tag[1:].split("}", 1)[0] if tag.startswith("{") else None

    def end(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        name = local(element)
        parent = ancestors[-1] if ancestors else ""
        handler = _HANDLERS.get((parent, name))
        if name == "Товар" and ancestors[-2:-1] != ("Каталог",):
            handler = None  # the goods lines of an order document, read with their `Документ`
        if handler is None and name == "Классификатор" and len(ancestors) <= 1:
            handler = _Reader._classifier
        if handler is None and name == "Документ" and parent in ("КоммерческаяИнформация", "Контейнер"):
            handler = _Reader._document
        if handler is not None:
            handler(self, element, ancestors)
            release(element)

    def _classifier(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        self.base.classifier_id = self.base.classifier_id or text(element, "Ид")
        owner = child(element, "Владелец")
        if owner is not None and self.base.owner is None:
            self.base.owner = Counterparty(
                text(owner, "Ид"), text(owner, "Наименование"), inn=text(owner, "ИНН")
            )
        groups = child(element, "Группы")
        if groups is not None:
            self._groups(groups, None)
        properties = child(element, "Свойства")
        for item in children(properties, "Свойство") if properties is not None else ():
            self._property(item)

    def _groups(self, block: etree._Element, parent: str | None) -> None:
        for item in children(block, "Группа"):
            group = Group(text(item, "Ид"), text(item, "Наименование"), parent)
            self.base.groups[group.id] = group
            nested = child(item, "Группы")
            if nested is not None:
                self._groups(nested, group.id)

    def _property(self, item: etree._Element) -> None:
        prop = self.base.properties.get(text(item, "Ид")) or Property(
            text(item, "Ид"), text(item, "Наименование")
        )
        prop.value_type = text(item, "ТипЗначений") or prop.value_type
        prop.for_offers = prop.for_offers or text(item, "ДляПредложений").lower() in _TRUE
        variants = child(item, "ВариантыЗначений")
        for value in children(variants, "Справочник") if variants is not None else ():
            prop.values[text(value, "ИдЗначения")] = text(value, "Значение")
        self.base.properties[prop.id] = prop

    def _catalog(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        # Products were consumed already; what is left is the catalog header.
        self.base.catalog_id = self.base.catalog_id or text(element, "Ид")
        self.base.catalog_name = text(element, "Наименование") or self.base.catalog_name
        self.base.classifier_id = self.base.classifier_id or text(element, "ИдКлассификатора")
        if not self.saw_catalog:
            self.saw_catalog = True
            self.base.version = self.version or self.base.version
            self.base.namespace = self.namespace

    def _product(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        where = f"{self.path.name}: Товар {text(element, 'Ид')}"
        if not text(element, "Ид"):
            raise CmlError(f"{where}: no Ид")
        values = requisites(element)
        groups = child(element, "Группы")
        unit = child(element, "БазоваяЕдиница")
        product = Product(
            id=text(element, "Ид"),
            name=text(element, "Наименование"),
            article=text(element, "Артикул"),
            barcode=text(element, "Штрихкод"),
            groups=[text(item) for item in children(groups, "Ид")] if groups is not None else [],
            description=text(element, "Описание"),
            unit=(unit.get("Код") or text(unit) or "796") if unit is not None else "796",
            properties=self._values(element),
            requisites=values,
            images=[text(item) for item in children(element, "Картинка") if text(item)],
            deleted=_deleted(element, values),
        )
        product.rev = self.base.stamp()
        self.base.products[product.id] = product
        for image in product.images:
            self._image(image)

    def _image(self, relative: str) -> None:
        candidate = PurePosixPath(relative)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise CmlError(f"{self.path.name}: unsafe image path {relative!r}")
        path = self.root_dir.joinpath(*candidate.parts)
        if path.is_file():
            self.base.files[relative] = path.read_bytes()

    @staticmethod
    def _values(element: etree._Element) -> dict[str, str]:
        block = child(element, "ЗначенияСвойств")
        found: dict[str, str] = {}
        for item in children(block, "ЗначенияСвойства") if block is not None else ():
            found[text(item, "Ид")] = text(item, "Значение")
        return found

    def _price_type(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        kind = PriceType(text(element, "Ид"), text(element, "Наименование"), text(element, "Валюта") or "RUB")
        self.base.price_types[kind.id] = kind

    def _warehouse(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        store = Warehouse(text(element, "Ид"), text(element, "Наименование"))
        self.base.warehouses[store.id] = store

    def _offer(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        offer_id = text(element, "Ид")
        where = f"{self.path.name}: Предложение {offer_id}"
        if len(element) == 0:
            return  # real ERP files carry empty `<Предложение/>` elements (erp-2.07 fixture, 27 of them)
        if not offer_id:
            raise CmlError(f"{where}: no Ид")
        offer = self.base.offers.get(offer_id) or Offer(offer_id, text(element, "Наименование"))
        offer.name = text(element, "Наименование") or offer.name
        offer.article = text(element, "Артикул") or offer.article
        features = child(element, "ХарактеристикиТовара")
        if features is not None:
            offer.characteristics = [
                (text(item, "Наименование"), text(item, "Значение"))
                for item in children(features, "ХарактеристикаТовара")
            ]
        offer.properties.update(self._values(element))
        self._prices(offer, element, where)
        self._stock(offer, element, where)
        offer.rev = self.base.stamp()
        self.base.offers[offer_id] = offer

    def _prices(self, offer: Offer, element: etree._Element, where: str) -> None:
        block = child(element, "Цены")
        for item in children(block, "Цена") if block is not None else ():
            kind = text(item, "ИдТипаЦены")
            if kind not in self.base.price_types:
                self.base.price_types[kind] = PriceType(kind, kind, text(item, "Валюта") or "RUB")
            offer.prices[kind] = decimal(text(item, "ЦенаЗаЕдиницу") or "0", f"{where} ЦенаЗаЕдиницу")

    def _stock(self, offer: Offer, element: etree._Element, where: str) -> None:
        """Stock shapes of §2.5: `Количество`, `<Склад ИдСклада КоличествоНаСкладе/>`, `Остатки/Остаток`."""
        total = text(element, "Количество")
        if total:
            offer.quantity = decimal(total, f"{where} Количество")
        for item in children(element, "Склад"):
            if item.get("ИдСклада"):
                self._put(offer, item.get("ИдСклада", ""), item.get("КоличествоНаСкладе", "0"), where)
        rests = child(element, "Остатки")
        for rest in children(rests, "Остаток") if rests is not None else ():
            store = child(rest, "Склад")
            if store is not None:
                self._put(offer, text(store, "Ид"), text(store, "Количество") or "0", where)
            elif text(rest, "Количество"):
                offer.quantity = decimal(text(rest, "Количество"), f"{where} Остаток")

    def _put(self, offer: Offer, store: str, value: str, where: str) -> None:
        if store not in self.base.warehouses:
            self.base.warehouses[store] = Warehouse(store, store)
        offer.stock[store] = decimal(value, f"{where} Склад {store}")

    def _package(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        self.base.catalog_id = self.base.catalog_id or text(element, "ИдКаталога")

    def _document(self, element: etree._Element, ancestors: tuple[str, ...]) -> None:
        if (text(element, "ХозОперация") or "Заказ товара") != "Заказ товара":
            return
        apply_incoming(self.base, read_document(element), today_text(date.today()))


def _deleted(element: etree._Element, values: dict[str, str]) -> bool:
    """§2.3 deletion markers: `<Статус>Удален</Статус>`, a `Статус` attribute, or `ПометкаУдаления`."""
    if text(element, "Статус") == "Удален" or element.get("Статус") == "Удален":
        return True
    mark = text(element, "ПометкаУдаления") or values.get("ПометкаУдаления", "")
    return mark.lower() in _TRUE


_HANDLERS = {
    ("КоммерческаяИнформация", "Каталог"): _Reader._catalog,
    ("Товары", "Товар"): _Reader._product,
    ("ТипыЦен", "ТипЦены"): _Reader._price_type,
    ("Склады", "Склад"): _Reader._warehouse,
    ("Предложения", "Предложение"): _Reader._offer,
    ("КоммерческаяИнформация", "ПакетПредложений"): _Reader._package,
    ("КоммерческаяИнформация", "ИзмененияПакетаПредложений"): _Reader._package,
}
