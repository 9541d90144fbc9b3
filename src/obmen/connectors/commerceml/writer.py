"""Streaming CommerceML writers: orders and documents, the catalog.

See docs/protocols/commerceml.md §2.6, §2.7 (documents) and §2.2-2.5 (the catalog).

Each writer takes a path or a binary stream and an iterable it consumes one item at a time
(`lxml.etree.xmlfile`), so a 1,000,000-product catalog is written in constant memory. The XML
declaration is written byte for byte as Bitrix and 1C write it (double quotes).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from lxml import etree

from obmen.connectors.commerceml.items import Document, Group, Offer, PriceType, Product, Property, Warehouse
from obmen.connectors.commerceml.tree import (
    document_element,
    group_element,
    offer_element,
    price_type_element,
    product_element,
    property_element,
    warehouse_element,
)

__all__ = ["ORDER_FORMATS", "Target", "write_catalog", "write_documents", "write_offers"]

Target = str | os.PathLike[str] | IO[bytes]
_ENCODINGS = {"windows-1251": "windows-1251", "cp1251": "windows-1251", "utf-8": "UTF-8"}
#: The root attributes Bitrix adds to its order export (bitrix-site-orders-2.05, §2.1).
ORDER_FORMATS = {
    "ФорматДаты": "ДФ=yyyy-MM-dd; ДЛФ=DT",
    "ФорматВремени": "ДФ=ЧЧ:мм:сс; ДЛФ=T",
    "РазделительДатаВремя": "T",
    "ФорматСуммы": "ЧЦ=18; ЧДЦ=2; ЧРД=.",
    "ФорматКоличества": "ЧЦ=18; ЧДЦ=2; ЧРД=.",
}


def _encoding(name: str) -> str:
    try:
        return _ENCODINGS[name.lower()]
    except KeyError:
        raise ValueError(f"CommerceML is written in windows-1251 or UTF-8, not {name!r}") from None


def _stamp(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return (value or datetime.now()).replace(microsecond=0, tzinfo=None).isoformat()


@contextmanager
def _root(target: Target, encoding: str, attrib: dict[str, str], bom: bool) -> Iterator[Any]:
    """Open the file (or use the stream), write the declaration, yield the writer inside the root."""
    codec = _encoding(encoding)
    stream: IO[bytes]
    own = isinstance(target, str | os.PathLike)
    stream = open(target, "wb") if isinstance(target, str | os.PathLike) else target  # noqa: SIM115
    try:
        if bom and codec == "UTF-8":
            stream.write(b"\xef\xbb\xbf")  # UT 11 starts its files with a BOM (§1.9)
        stream.write(f'<?xml version="1.0" encoding="{codec}"?>\n'.encode("ascii"))
        # lxml writes UTF-8 and windows-1251 is made from it here: libxml2's own windows-1251 output
        # drops some characters it cannot encode (U+E0001) where a character reference keeps them.
        sink = stream if codec == "UTF-8" else _Transcoded(stream, codec)
        with etree.xmlfile(sink, encoding="UTF-8") as xf, xf.element("КоммерческаяИнформация", attrib):
            xf.write("\n")
            yield xf
        stream.write(b"\n")
    finally:
        if own:
            stream.close()


class _Transcoded:
    """A binary sink taking UTF-8 and writing `codec`, what it cannot encode as character references."""

    def __init__(self, stream: IO[bytes], codec: str) -> None:
        self.stream, self.codec = stream, codec
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def write(self, data: bytes) -> int:
        """Take a piece of UTF-8 (a character may be split between two pieces)."""
        self.stream.write(self.decoder.decode(data).encode(self.codec, "xmlcharrefreplace"))
        return len(data)


def write_documents(
    target: Target,
    documents: Iterable[Document],
    *,
    schema_version: str = "2.05",
    encoding: str = "windows-1251",
    generated_at: datetime | str | None = None,
    bitrix_formats: bool = True,
) -> None:
    """Orders as a 1C-Bitrix site answers `mode=query` (2.05 or 2.10 form), or 1C's documents to a site.

    With `schema_version` ≥ 2.10 a line's unit is `<Единица>` + `<Коэффициент>` instead of
    `<БазоваяЕдиница>` (BX `CSaleExport::outputXmlUnit`), and payment and shipment documents
    (with `Основание`) follow their order as separate `Документ` elements, in the order given.
    """
    attrib = {"ВерсияСхемы": schema_version, "ДатаФормирования": _stamp(generated_at)}
    if bitrix_formats:
        attrib.update(ORDER_FORMATS)
    new_units = _version(schema_version) >= Decimal("2.10")
    with _root(target, encoding, attrib, bom=False) as xf:
        for document in documents:
            xf.write(_built(document_element, document, new_units=new_units), pretty_print=True)


def _built(build: Callable[..., Any], item: Any, **options: Any) -> Any:
    """The element of one item; text XML cannot carry (control characters) is named, not passed on raw."""
    try:
        return build(item, **options)
    except ValueError as exc:
        raise ValueError(f"{type(item).__name__} {item.id!r} cannot be written as XML: {exc}") from exc


def _version(text: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise ValueError(f"schema version must look like 2.05, not {text!r}") from None


def _header(xf: Any, section_id: str, name: str, extra: Iterable[tuple[str, str | None]]) -> None:
    xf.write(_leaf("Ид", section_id), _leaf("Наименование", name), pretty_print=True)
    for tag, value in extra:
        if value is not None:
            xf.write(_leaf(tag, value), pretty_print=True)


def _leaf(tag: str, text: str) -> Any:
    el = etree.Element(tag)
    el.text = text
    return el


def _groups_tree(groups: Iterable[Group]) -> list[Any]:
    """Nest flat groups under their parents (a parent missing from the list makes a root)."""
    items = list(groups)
    known = {g.id for g in items}
    children: dict[str | None, list[Group]] = {}
    for g in items:
        children.setdefault(g.parent_id if g.parent_id in known else None, []).append(g)

    def build(parent: str | None, depth: int) -> list[Any]:
        if depth > 100:
            raise ValueError("the group tree is deeper than 100 levels (a cycle?)")
        return [group_element(g, build(g.id, depth + 1)) for g in children.get(parent, [])]

    return build(None, 0)


def write_catalog(
    target: Target,
    products: Iterable[Product],
    *,
    classifier_id: str,
    catalog_id: str,
    name: str = "Каталог товаров",
    groups: Iterable[Group] = (),
    properties: Iterable[Property] = (),
    changes_only: bool = False,
    schema_version: str = "2.07",
    encoding: str = "utf-8",
    generated_at: datetime | str | None = None,
) -> None:
    """import.xml: `Классификатор` (groups tree, properties) then `Каталог/Товары` streamed."""
    attrib = {"ВерсияСхемы": schema_version, "ДатаФормирования": _stamp(generated_at)}
    with _root(target, encoding, attrib, bom=True) as xf:
        with xf.element("Классификатор"):
            _header(xf, classifier_id, f"Классификатор ({name})", ())
            tree = _groups_tree(groups)
            if tree:
                with xf.element("Группы"):
                    for el in tree:
                        xf.write(el, pretty_print=True)
            props = [property_element(p) for p in properties]
            if props:
                with xf.element("Свойства"):
                    for el in props:
                        xf.write(el, pretty_print=True)
        xf.write("\n")
        with xf.element("Каталог", {"СодержитТолькоИзменения": "true" if changes_only else "false"}):
            _header(xf, catalog_id, name, (("ИдКлассификатора", classifier_id),))
            with xf.element("Товары"):
                for product in products:
                    xf.write(_built(product_element, product), pretty_print=True)


def write_offers(
    target: Target,
    offers: Iterable[Offer],
    *,
    package_id: str,
    catalog_id: str,
    classifier_id: str,
    price_types: Iterable[PriceType] = (),
    warehouses: Iterable[Warehouse] = (),
    name: str = "Пакет предложений",
    changes_only: bool = False,
    stock_shape: str = "attributes",
    schema_version: str = "2.07",
    encoding: str = "utf-8",
    generated_at: datetime | str | None = None,
) -> None:
    """offers.xml: `ПакетПредложений` with price types, warehouses and offers streamed.

    `stock_shape` is `attributes` (`<Склад ИдСклада КоличествоНаСкладе/>`, UT 11 2.07) or `rests`
    (`<Остатки><Остаток><Склад>`, 2.08+, §2.5); `<Количество>` carries the total either way.
    """
    if stock_shape not in ("attributes", "rests"):
        raise ValueError(f"stock_shape is 'attributes' or 'rests', not {stock_shape!r}")
    attrib = {"ВерсияСхемы": schema_version, "ДатаФормирования": _stamp(generated_at)}
    with (
        _root(target, encoding, attrib, bom=True) as xf,
        xf.element("ПакетПредложений", {"СодержитТолькоИзменения": "true" if changes_only else "false"}),
    ):
        extra = (("ИдКаталога", catalog_id), ("ИдКлассификатора", classifier_id))
        _header(xf, package_id, name, extra)
        for tag, elements in (
            ("ТипыЦен", [price_type_element(p) for p in price_types]),
            ("Склады", [warehouse_element(w) for w in warehouses]),
        ):
            if elements:
                with xf.element(tag):
                    for el in elements:
                        xf.write(el, pretty_print=True)
        with xf.element("Предложения"):
            for offer in offers:
                xf.write(_built(offer_element, offer, rests=stock_shape == "rests"), pretty_print=True)
