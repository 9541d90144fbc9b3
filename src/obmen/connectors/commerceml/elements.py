"""One finished XML element → one codec item (docs/protocols/commerceml.md §2). Names are matched locally."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from obmen.connectors.commerceml.items import (
    Group,
    Offer,
    OfferPrice,
    PriceType,
    Product,
    Property,
    PropertyValue,
    StockEntry,
    Tax,
    Warehouse,
)

__all__ = [
    "BadValue",
    "decimal",
    "first",
    "flag",
    "group",
    "item_key",
    "kids",
    "line_of",
    "local",
    "offer",
    "opt",
    "opt_decimal",
    "pairs",
    "price_type",
    "product",
    "property_",
    "taxes_of",
    "text_of",
    "unit_of",
    "warehouse",
]

El = etree._Element
_TRUE = frozenset({"true", "истина", "да", "1", "y", "yes"})


class BadValue(ValueError):
    """A value that does not parse; the reader adds the file and line."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def line_of(el: El) -> int | None:
    """The source line of an element, if libxml2 knows it."""
    line = el.sourceline
    return line if isinstance(line, int) else None


#: Qualified tag → local name. A file has a few dozen distinct tags; the cap keeps a hostile file
#: with millions of invented tag names from growing it.
_NAMES: dict[str, str] = {}
_NAMES_CAP = 4096


def local(tag: str) -> str:
    """`{urn:1C.ru:commerceml_2}Товар` → `Товар` (the namespace varies and lies, §1.11)."""
    name = _NAMES.get(tag)
    if name is None:
        name = tag[tag.rfind("}") + 1 :]
        if len(_NAMES) < _NAMES_CAP:
            _NAMES[tag] = name
    return name


def kids(el: El) -> list[tuple[str, El]]:
    """(local name, element) of the element children; comments, PIs and entities skipped."""
    names = _NAMES
    return [(names.get(c.tag) or local(c.tag), c) for c in el if isinstance(c.tag, str)]


def text_of(el: El) -> str:
    """The stripped text of an element (1C pads values with spaces, §2.7)."""
    return (el.text or "").strip()


def child_text(el: El, name: str) -> str | None:
    """Text of the first child called `name`, or None."""
    for tag, child in kids(el):
        if tag == name:
            return text_of(child)
    return None


def flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def decimal(value: str, el: El) -> Decimal:
    """A number as 1C writes it: spaces as thousands separators, a comma or a dot (§4 item 5)."""
    cleaned = value.replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise BadValue(f"<{local(el.tag)}> is not a number: {value!r}", line_of(el)) from None
    if not number.is_finite():
        raise BadValue(f"<{local(el.tag)}> is not a finite number: {value!r}", line_of(el))
    return number


def opt_decimal(el: El | None) -> Decimal | None:
    if el is None:
        return None
    value = text_of(el)
    return decimal(value, el) if value else None


def pairs(el: El, key: str = "Наименование", value: str = "Значение") -> tuple[tuple[str, str], ...]:
    """(name, value) of every child: `ЗначенияРеквизитов`, `ХарактеристикиТовара`."""
    out = []
    names = _NAMES
    for item in el:
        if not isinstance(item.tag, str):
            continue
        found_key = found_value = None
        for child in item:  # the last of several with one name wins, as before
            tag = child.tag
            if not isinstance(tag, str):
                continue
            name = names.get(tag) or local(tag)
            if name == key:
                found_key = child
            elif name == value:
                found_value = child
        if found_key is not None:
            out.append((text_of(found_key), text_of(found_value) if found_value is not None else ""))
    return tuple(out)


def _deleted(el: El, fields: dict[str, El]) -> bool:
    status = fields.get("Статус")
    if status is not None and text_of(status) == "Удален":
        return True
    if el.get("Статус") == "Удален":
        return True
    mark = fields.get("ПометкаУдаления")
    return mark is not None and flag(text_of(mark))


def first(el: El) -> dict[str, El]:
    """Children by local name; the first of several with one name wins.

    One pass over the children, no intermediate list: this runs for every element of an item.
    """
    out: dict[str, El] = {}
    names = _NAMES
    for child in el:
        tag = child.tag
        if isinstance(tag, str):
            name = names.get(tag) or local(tag)
            if name not in out:
                out[name] = child
    return out


def _req(fields: dict[str, El], name: str, owner: El) -> str:
    child = fields.get(name)
    value = text_of(child) if child is not None else ""
    if not value:
        raise BadValue(f"<{local(owner.tag)}> without <{name}>", line_of(owner))
    return value


def opt(fields: dict[str, El], name: str) -> str | None:
    child = fields.get(name)
    if child is None:
        return None
    return text_of(child) or None


def item_key(el: El) -> str:
    """The `Ид` a product or offer will have, read without parsing the rest (offers: as `offer` builds it)."""
    found = next(el.iterchildren("{*}Ид"), None)  # C-level filtered iteration: no proxy per child
    ident = text_of(found) if found is not None else ""
    if "#" in ident:
        return ident
    extra = next(el.iterchildren("{*}ИдХарактеристики"), None)
    separate = text_of(extra) if extra is not None else ""
    return f"{ident}#{separate}" if separate else ident


def group(el: El, parent_id: str | None) -> Group:
    """`Группа` (its nested `Группы` are separate items)."""
    fields = first(el)
    return Group(
        id=_req(fields, "Ид", el),
        name=opt(fields, "Наименование") or "",
        parent_id=parent_id,
        deleted=_deleted(el, fields),
    )


def property_(el: El) -> Property:
    """`Свойство` with its `ВариантыЗначений/Справочник` dictionary."""
    fields = first(el)
    values = []
    options = fields.get("ВариантыЗначений")
    if options is not None:
        for _, entry in kids(options):
            entry_fields = first(entry)
            value_id = opt(entry_fields, "ИдЗначения")
            if value_id is not None:
                values.append(PropertyValue(id=value_id, value=opt(entry_fields, "Значение") or ""))
    return Property(
        id=_req(fields, "Ид", el),
        name=opt(fields, "Наименование") or "",
        value_type=opt(fields, "ТипЗначений") or "Строка",
        for_offers=flag(opt(fields, "ДляПредложений")),
        values=tuple(values),
    )


def price_type(el: El) -> PriceType:
    """`ТипЦены` with its tax."""
    fields = first(el)
    tax = fields.get("Налог")
    tax_fields = first(tax) if tax is not None else {}
    included = opt(tax_fields, "УчтеноВСумме")
    return PriceType(
        id=_req(fields, "Ид", el),
        name=opt(fields, "Наименование") or "",
        currency=opt(fields, "Валюта") or "RUB",
        tax_name=opt(tax_fields, "Наименование"),
        tax_included=None if included is None else flag(included),
    )


def warehouse(el: El) -> Warehouse:
    """`Склад` of a `Склады` list."""
    fields = first(el)
    address = fields.get("Адрес")
    text = None
    if address is not None:
        text = opt(first(address), "Представление") or text_of(address) or None
    return Warehouse(id=_req(fields, "Ид", el), name=opt(fields, "Наименование") or "", address=text)


def unit_of(el: El) -> tuple[str | None, str | None]:
    """(name, code) of `БазоваяЕдиница`: text in UT 10.3, attributes and children in UT 11 (§2.3)."""
    fields = first(el)
    name = text_of(el) or el.get("НаименованиеКраткое") or opt(fields, "НаименованиеКраткое")
    name = name or el.get("НаименованиеПолное") or opt(fields, "НаименованиеПолное")
    code = (el.get("Код") or "").strip() or opt(fields, "Код")
    return name or None, code


def taxes_of(el: El) -> tuple[Tax, ...]:
    out: list[Tax] = []
    for item in el:
        if not isinstance(item.tag, str):
            continue
        fields = first(item)
        rate = fields.get("Ставка")
        rate_text = text_of(rate) if rate is not None else ""
        included = opt(fields, "УчтеноВСумме")
        out.append(
            Tax(
                name=opt(fields, "Наименование") or "",
                rate=decimal(rate_text, rate) if rate is not None and _numeric(rate_text) else None,
                amount=opt_decimal(fields.get("Сумма")),
                included=None if included is None else flag(included),
            )
        )
    return tuple(out)


def _numeric(text: str) -> bool:
    """`18` is a rate, `Без НДС` is not."""
    return any(ch.isdigit() for ch in text) and not any(ch.isalpha() for ch in text)


def _property_values(el: El) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    names = _NAMES
    for item in el:
        if not isinstance(item.tag, str):
            continue
        prop_id = None
        values = []
        for child in item:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            name = names.get(tag) or local(tag)
            if name == "Ид":
                prop_id = text_of(child)
            elif name in ("Значение", "ИдЗначения"):
                values.append(text_of(child))
        if prop_id:
            out.extend((prop_id, value) for value in values if value)
    return tuple(out)


def product(el: El, digest: str | None = None) -> Product:
    """`Каталог/Товары/Товар`."""
    fields: dict[str, El] = {}
    groups: list[str] = []
    images: list[str] = []
    names = _NAMES
    for child in el:  # one pass over the children builds the whole item
        tag = child.tag
        if not isinstance(tag, str):
            continue
        name = names.get(tag) or local(tag)
        if name == "Группы":
            groups.extend(t for g in child if isinstance(g.tag, str) and (t := text_of(g)))
        elif name == "Картинка":
            if image := text_of(child):
                images.append(image)
        elif name not in fields:
            fields[name] = child
    unit = fields.get("БазоваяЕдиница")
    unit_name, unit_code = unit_of(unit) if unit is not None else (None, None)
    props, reqs, taxes = (
        fields.get("ЗначенияСвойств"),
        fields.get("ЗначенияРеквизитов"),
        fields.get("СтавкиНалогов"),
    )
    return Product(
        id=_req(fields, "Ид", el),
        name=opt(fields, "Наименование") or "",
        article=opt(fields, "Артикул"),
        barcode=opt(fields, "Штрихкод"),
        unit=unit_name,
        unit_code=unit_code,
        group_ids=tuple(groups),
        description=opt(fields, "Описание"),
        images=tuple(images),
        properties=_property_values(props) if props is not None else (),
        requisites=pairs(reqs) if reqs is not None else (),
        taxes=taxes_of(taxes) if taxes is not None else (),
        deleted=_deleted(el, fields),
        digest=digest,
    )


def _prices(el: El) -> tuple[OfferPrice, ...]:
    out = []
    for item in el:
        if not isinstance(item.tag, str):
            continue
        fields = first(item)
        value = fields.get("ЦенаЗаЕдиницу")
        if value is None or not text_of(value):
            continue
        out.append(
            OfferPrice(
                price_type_id=_req(fields, "ИдТипаЦены", item),
                value=decimal(text_of(value), value),
                currency=opt(fields, "Валюта"),
                unit=opt(fields, "Единица"),
                ratio=opt_decimal(fields.get("Коэффициент")),
            )
        )
    return tuple(out)


def _rests(el: El) -> tuple[Decimal | None, list[StockEntry]]:
    """`Остатки/Остаток`: either a total `Количество` or `Склад/{Ид, Количество}` (§2.5)."""
    total: Decimal | None = None
    stock = []
    names = _NAMES
    for rest in el:
        for child in rest:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            tag = names.get(tag) or local(tag)
            if tag == "Склад":
                fields = first(child)
                qty = opt_decimal(fields.get("Количество"))
                stock.append(StockEntry(warehouse_id=_req(fields, "Ид", child), quantity=qty or Decimal(0)))
            elif tag == "Количество":
                qty = opt_decimal(child)
                total = qty if total is None or qty is None else total + qty
    return total, stock


def offer(el: El, digest: str | None = None) -> Offer:
    """`Предложение` in any of the four stock shapes (§2.5)."""
    fields: dict[str, El] = {}
    stock: list[StockEntry] = []
    total: Decimal | None = None
    names = _NAMES
    for child in el:  # one pass over the children builds the whole item
        tag = child.tag
        if not isinstance(tag, str):
            continue
        tag = names.get(tag) or local(tag)
        if tag in ("Склад", "Склады"):  # `Склады` repeats per warehouse in ИзмененияПакетаПредложений (2.09)
            warehouse_id = child.get("ИдСклада")
            amount = child.get("КоличествоНаСкладе")
            if warehouse_id:
                stock.append(StockEntry(warehouse_id=warehouse_id, quantity=decimal(amount or "0", child)))
        elif tag == "Остатки":
            total, rests = _rests(child)
            stock.extend(rests)
        elif tag not in fields:
            fields[tag] = child
    offer_id = _req(fields, "Ид", el)
    product_id, _, characteristic = offer_id.partition("#")
    separate = opt(fields, "ИдХарактеристики")  # 2.09 changes name the characteristic apart (XSD 2.09)
    if not characteristic and separate:
        characteristic, offer_id = separate, f"{product_id}#{separate}"
    quantity = opt_decimal(fields.get("Количество"))
    chars, props, prices = (
        fields.get("ХарактеристикиТовара"),
        fields.get("ЗначенияСвойств"),
        fields.get("Цены"),
    )
    return Offer(
        id=offer_id,
        product_id=product_id,
        characteristic_id=characteristic or None,
        name=opt(fields, "Наименование") or "",
        article=opt(fields, "Артикул"),
        barcode=opt(fields, "Штрихкод"),
        characteristics=pairs(chars) if chars is not None else (),
        properties=_property_values(props) if props is not None else (),
        prices=_prices(prices) if prices is not None else (),
        quantity=quantity if quantity is not None else total,
        stock=tuple(stock),
        deleted=_deleted(el, fields),
        digest=digest,
    )
