"""Reading CommerceML files the way a 1C-Bitrix site does: catalog, offers packages and 1C's documents.

Hardened per docs/protocols/commerceml.md §6: no DTD, no entity resolution, no network, and any DOCTYPE is
refused. Names are matched by local name because the namespace varies and lies (§1.11), `Ид` stays
an opaque string (§2.8). A file is read whole before anything is applied, so a truncated or
malformed file changes nothing (the site's own importer also reads the XML into a table first, §1.5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from obmen_sandbox.xmlsafe import has_doctype, iterparse

__all__ = [
    "CatalogFile",
    "CmlError",
    "DocItem",
    "DocumentRec",
    "GroupRec",
    "OfferRec",
    "PriceTypeRec",
    "ProductRec",
    "WarehouseRec",
    "read_catalog_file",
    "read_documents",
]

_PACKAGES = {"ПакетПредложений", "ИзмененияПакетаПредложений"}
_HEADERS = _PACKAGES | {"Классификатор"}


class CmlError(ValueError):
    """The file is not well-formed, is refused for safety, or holds a value that cannot be read."""


@dataclass
class GroupRec:
    """One `Группа` of the classifier, flattened with its parent."""

    xml_id: str
    name: str
    parent: str | None
    deleted: bool = False


@dataclass
class ProductRec:
    """One `Каталог/Товары/Товар`."""

    xml_id: str
    name: str
    article: str = ""
    barcode: str = ""
    description: str = ""
    groups: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    requisites: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class PriceTypeRec:
    """One `ТипЦены` of an offers package."""

    xml_id: str
    name: str
    currency: str


@dataclass
class WarehouseRec:
    """One `Склад` declared in a package header."""

    xml_id: str
    name: str


@dataclass
class OfferRec:
    """One `Предложение`; None means the file did not carry that part (a prices-only or rests-only file)."""

    xml_id: str
    name: str | None = None
    article: str | None = None
    prices: dict[str, Decimal] | None = None
    quantity: Decimal | None = None
    stocks: dict[str, Decimal] | None = None
    deleted: bool = False


@dataclass
class CatalogFile:
    """Everything a catalog-exchange file carried, in document order."""

    kinds: set[str] = field(default_factory=set)
    only_changes: bool = False
    catalog_id: str | None = None
    groups: list[GroupRec] = field(default_factory=list)
    products: list[ProductRec] = field(default_factory=list)
    price_types: list[PriceTypeRec] = field(default_factory=list)
    warehouses: list[WarehouseRec] = field(default_factory=list)
    offers: list[OfferRec] = field(default_factory=list)
    skipped: int = 0


@dataclass
class DocItem:
    """A line of a 1C document (`Товар`)."""

    xml_id: str
    name: str
    price: Decimal
    quantity: Decimal
    #: The line's VAT (`Налоги/Налог` named НДС): its rate, and whether the price includes it.
    vat_rate: Decimal | None = None
    vat_included: bool = True


@dataclass
class DocumentRec:
    """One `Документ` sent by 1C (docs/protocols/commerceml.md §2.7)."""

    xml_id: str
    number: str
    date: str
    operation: str
    currency: str
    total: Decimal
    counterparty: str
    comment: str
    items: list[DocItem] = field(default_factory=list)
    requisites: dict[str, str] = field(default_factory=dict)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _children(elem: etree._Element, name: str | None = None) -> Iterator[etree._Element]:
    for child in elem:
        if isinstance(child.tag, str) and (name is None or _local(child.tag) == name):
            yield child


def _child(elem: etree._Element, name: str) -> etree._Element | None:
    return next(_children(elem, name), None)


def _text(elem: etree._Element, name: str) -> str | None:
    child = _child(elem, name)
    return None if child is None else (child.text or "").strip()


def _number(text: str, what: str) -> Decimal:
    # Custom 1C setups write comma decimals and thousands spaces (docs/protocols/commerceml.md §4 item 5).
    cleaned = text.replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise CmlError(f"{what}: не число {text!r} / not a number") from None


def _deleted(elem: etree._Element) -> bool:
    # `<Статус>Удален</Статус>`, attribute `Статус="Удален"` or `ПометкаУдаления` (§2.3).
    status = _text(elem, "Статус") or elem.get("Статус") or ""
    mark = (_text(elem, "ПометкаУдаления") or "").lower()
    return status == "Удален" or mark == "true"


def _requisites(elem: etree._Element) -> dict[str, str]:
    block = _child(elem, "ЗначенияРеквизитов")
    out: dict[str, str] = {}
    for req in _children(block, "ЗначениеРеквизита") if block is not None else ():
        name = _text(req, "Наименование")
        if name:
            out[name] = _text(req, "Значение") or ""
    return out


def _iterparse(path: Path, handle: Callable[[tuple[str, ...], etree._Element], bool]) -> None:
    """Walk `path`, calling `handle(path_of_local_names, elem)` at each end tag; True frees the element."""
    with path.open("rb") as source:  # our handle: an early refusal must not leak lxml's
        _walk(source, handle)


def _walk(source: BinaryIO, handle: Callable[[tuple[str, ...], etree._Element], bool]) -> None:
    stack: list[str] = []
    events = iterparse(source)
    try:
        for event, elem in events:
            if event == "start":
                if not stack and has_doctype(elem):
                    raise CmlError("DOCTYPE запрещен / DOCTYPE is refused")
                stack.append(_local(elem.tag))
                continue
            if handle(tuple(stack), elem):
                elem.clear()
                while elem.getprevious() is not None:
                    del elem.getparent()[0]  # type: ignore[union-attr,unused-ignore]
            stack.pop()
    except etree.XMLSyntaxError as exc:
        raise CmlError(f"Ошибка разбора XML / XML parse error: {exc}") from None


def _groups(elem: etree._Element, parent: str | None, out: list[GroupRec]) -> None:
    for group in _children(elem, "Группа"):
        xml_id = _text(group, "Ид")
        if not xml_id:
            raise CmlError("Группа без Ид / a group without Ид")
        out.append(GroupRec(xml_id, _text(group, "Наименование") or "", parent, _deleted(group)))
        nested = _child(group, "Группы")
        if nested is not None:
            _groups(nested, xml_id, out)


def _product(elem: etree._Element) -> ProductRec:
    xml_id = _text(elem, "Ид")
    if not xml_id:
        raise CmlError("Товар без Ид / a product without Ид")
    groups = _child(elem, "Группы")
    props = _child(elem, "ЗначенияСвойств")
    properties = {
        _text(p, "Ид") or "": _text(p, "Значение") or ""
        for p in (_children(props, "ЗначенияСвойства") if props is not None else ())
    }
    return ProductRec(
        xml_id=xml_id,
        name=_text(elem, "Наименование") or "",
        article=_text(elem, "Артикул") or "",
        barcode=_text(elem, "Штрихкод") or "",
        description=_text(elem, "Описание") or "",
        groups=[(g.text or "").strip() for g in _children(groups, "Ид")] if groups is not None else [],
        images=[(i.text or "").strip() for i in _children(elem, "Картинка")],
        requisites=_requisites(elem),
        properties=properties,
        deleted=_deleted(elem),
    )


def _prices(elem: etree._Element) -> dict[str, Decimal] | None:
    block = _child(elem, "Цены")
    if block is None:
        return None
    out: dict[str, Decimal] = {}
    for price in _children(block, "Цена"):
        type_id, value = _text(price, "ИдТипаЦены"), _text(price, "ЦенаЗаЕдиницу")
        if type_id and value:
            out[type_id] = _number(value, "ЦенаЗаЕдиницу")
    return out


def _warehouse_rows(elem: etree._Element) -> Iterator[tuple[str, str]]:
    """Per-warehouse stock in the four shapes of docs/protocols/commerceml.md §2.5."""
    for row in _children(elem, "Склад"):
        if row.get("ИдСклада") is not None:
            yield row.get("ИдСклада") or "", row.get("КоличествоНаСкладе") or "0"
    for block in (*_children(elem, "Остатки"), *_children(elem, "Склады")):
        for rest in (*_children(block, "Остаток"), *_children(block, "Склад")):
            for row in (rest, *_children(rest, "Склад")):
                wid = _text(row, "Ид") or _text(row, "ИдСклада") or row.get("ИдСклада")
                qty = _text(row, "Количество") or row.get("КоличествоНаСкладе")
                if wid and qty is not None:
                    yield wid, qty


def _total_rest(elem: etree._Element) -> str | None:
    for block in _children(elem, "Остатки"):
        for rest in _children(block, "Остаток"):
            if _child(rest, "Склад") is None and _text(rest, "Количество") is not None:
                return _text(rest, "Количество")
    return None


def _offer(elem: etree._Element) -> OfferRec | None:
    xml_id = _text(elem, "Ид")
    if not xml_id:
        return None  # real UT/ERP files carry empty `<Предложение/>` (fixture erp-2.07): skipped
    stocks = {wid: _number(qty, "КоличествоНаСкладе") for wid, qty in _warehouse_rows(elem)}
    total = _text(elem, "Количество") or _total_rest(elem)
    quantity = _number(total, "Количество") if total is not None else None
    if quantity is None and stocks:
        quantity = sum(stocks.values(), Decimal(0))
    return OfferRec(
        xml_id=xml_id,
        name=_text(elem, "Наименование"),
        article=_text(elem, "Артикул"),
        prices=_prices(elem),
        quantity=quantity,
        stocks=stocks or None,
        deleted=_deleted(elem),
    )


def read_catalog_file(path: Path) -> CatalogFile:
    """Read an import (classifier, catalog) or offers (prices, rests) file of a catalog run."""
    out = CatalogFile()

    def handle(where: tuple[str, ...], elem: etree._Element) -> bool:
        name, parent = where[-1], where[-2] if len(where) > 1 else ""
        if name in {"Каталог", *_PACKAGES} and len(where) == 2:
            out.kinds.add("offers" if name in _PACKAGES else "catalog")
            out.only_changes = out.only_changes or elem.get("СодержитТолькоИзменения") == "true"
            out.only_changes = out.only_changes or name == "ИзмененияПакетаПредложений"
        elif name == "Классификатор" and len(where) <= 2:
            out.kinds.add("classifier")
        elif name == "Группы" and parent == "Классификатор":
            _groups(elem, None, out.groups)
        elif (name, parent) in {("Ид", "Каталог"), ("ИдКаталога", "ПакетПредложений")} and len(where) == 3:
            out.catalog_id = (elem.text or "").strip()
        elif name == "Товар" and parent == "Товары":
            out.products.append(_product(elem))
        elif name == "ТипЦены" and parent == "ТипыЦен" and len(where) > 3 and where[-3] in _HEADERS:
            out.price_types.append(_price_type(elem))
        elif name == "Склад" and parent == "Склады" and len(where) > 3 and where[-3] in _HEADERS:
            out.warehouses.append(WarehouseRec(_text(elem, "Ид") or "", _text(elem, "Наименование") or ""))
        elif name == "Предложение" and parent == "Предложения":
            offer = _offer(elem)
            if offer is None:
                out.skipped += 1
            else:
                out.offers.append(offer)
        else:
            return False
        return True

    _iterparse(path, handle)
    if not out.kinds:
        raise CmlError(
            "в файле нет ни каталога, ни пакета предложений / neither a catalog nor an offers package"
        )
    return out


def _price_type(elem: etree._Element) -> PriceTypeRec:
    return PriceTypeRec(
        _text(elem, "Ид") or "", _text(elem, "Наименование") or "", _text(elem, "Валюта") or ""
    )


def _vat(item: etree._Element) -> dict[str, Any]:
    """A line's VAT from its `Налоги` (§2.6): the rate, and `УчтеноВСумме` (true when absent)."""
    taxes = _child(item, "Налоги")
    for tax in _children(taxes, "Налог") if taxes is not None else ():
        rate = _text(tax, "Ставка") or ""
        if (_text(tax, "Наименование") or "").upper() == "НДС" and rate.replace(".", "", 1).isdigit():
            return {
                "vat_rate": Decimal(rate),
                "vat_included": (_text(tax, "УчтеноВСумме") or "true") == "true",
            }
    return {}


def _document(elem: etree._Element) -> DocumentRec:
    party = _child(elem, "Контрагенты")
    first = next(_children(party, "Контрагент"), None) if party is not None else None
    goods = _child(elem, "Товары")
    items = [
        DocItem(
            xml_id=_text(item, "Ид") or "",
            name=_text(item, "Наименование") or "",
            price=_number(_text(item, "ЦенаЗаЕдиницу") or "0", "ЦенаЗаЕдиницу"),
            quantity=_number(_text(item, "Количество") or "0", "Количество"),
            **_vat(item),
        )
        for item in (_children(goods, "Товар") if goods is not None else ())
    ]
    return DocumentRec(
        xml_id=_text(elem, "Ид") or "",
        number=_text(elem, "Номер") or "",
        date=_text(elem, "Дата") or "",
        operation=_text(elem, "ХозОперация") or "",
        currency=_text(elem, "Валюта") or "",
        total=_number(_text(elem, "Сумма") or "0", "Сумма"),
        counterparty=(_text(first, "Наименование") or "") if first is not None else "",
        comment=_text(elem, "Комментарий") or "",
        items=items,
        # Values may be space-padded (`ВК01276    `, §2.7): _text strips them.
        requisites=_requisites(elem),
    )


def read_documents(path: Path) -> list[DocumentRec]:
    """Read the `Документ` elements of a file 1C uploads in the sale exchange."""
    docs: list[DocumentRec] = []
    seen_root: list[str] = []

    def handle(where: tuple[str, ...], elem: etree._Element) -> bool:
        if len(where) == 1:
            seen_root.append(where[0])
        if where[-1] == "Документ" and len(where) in (2, 3):
            docs.append(_document(elem))
            return True
        return False

    _iterparse(path, handle)
    if seen_root != ["КоммерческаяИнформация"]:
        raise CmlError("корневой элемент не КоммерческаяИнформация / the root is not КоммерческаяИнформация")
    return docs
