"""One finished XML element → one codec item (docs/commerceml.md §2). Names are matched locally."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree

from obmen.connectors.commerceml.items import (
    Address,
    Counterparty,
    Discount,
    Document,
    DocumentLine,
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
    "counterparty",
    "document",
    "group",
    "local",
    "offer",
    "price_type",
    "product",
    "property_",
    "text_of",
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


def _flag(value: str | None) -> bool:
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


def _opt_decimal(el: El | None) -> Decimal | None:
    if el is None:
        return None
    value = text_of(el)
    return decimal(value, el) if value else None


def pairs(el: El, key: str = "Наименование", value: str = "Значение") -> tuple[tuple[str, str], ...]:
    """(name, value) of every child: `ЗначенияРеквизитов`, `ХарактеристикиТовара`."""
    out = []
    for _, item in kids(el):
        fields = {tag: text_of(child) for tag, child in kids(item)}
        if key in fields:
            out.append((fields[key], fields.get(value, "")))
    return tuple(out)


def _deleted(el: El, fields: dict[str, El]) -> bool:
    status = fields.get("Статус")
    if status is not None and text_of(status) == "Удален":
        return True
    if el.get("Статус") == "Удален":
        return True
    mark = fields.get("ПометкаУдаления")
    return mark is not None and _flag(text_of(mark))


def _first(el: El) -> dict[str, El]:
    """Children by local name; the first of several with one name wins."""
    return dict(reversed(kids(el)))


def _req(fields: dict[str, El], name: str, owner: El) -> str:
    child = fields.get(name)
    value = text_of(child) if child is not None else ""
    if not value:
        raise BadValue(f"<{local(owner.tag)}> without <{name}>", line_of(owner))
    return value


def _opt(fields: dict[str, El], name: str) -> str | None:
    child = fields.get(name)
    if child is None:
        return None
    return text_of(child) or None


def group(el: El, parent_id: str | None) -> Group:
    """`Группа` (its nested `Группы` are separate items)."""
    fields = _first(el)
    return Group(
        id=_req(fields, "Ид", el),
        name=_opt(fields, "Наименование") or "",
        parent_id=parent_id,
        deleted=_deleted(el, fields),
    )


def property_(el: El) -> Property:
    """`Свойство` with its `ВариантыЗначений/Справочник` dictionary."""
    fields = _first(el)
    values = []
    options = fields.get("ВариантыЗначений")
    if options is not None:
        for _, entry in kids(options):
            entry_fields = _first(entry)
            value_id = _opt(entry_fields, "ИдЗначения")
            if value_id is not None:
                values.append(PropertyValue(id=value_id, value=_opt(entry_fields, "Значение") or ""))
    return Property(
        id=_req(fields, "Ид", el),
        name=_opt(fields, "Наименование") or "",
        value_type=_opt(fields, "ТипЗначений") or "Строка",
        for_offers=_flag(_opt(fields, "ДляПредложений")),
        values=tuple(values),
    )


def price_type(el: El) -> PriceType:
    """`ТипЦены` with its tax."""
    fields = _first(el)
    tax = fields.get("Налог")
    tax_fields = _first(tax) if tax is not None else {}
    included = _opt(tax_fields, "УчтеноВСумме")
    return PriceType(
        id=_req(fields, "Ид", el),
        name=_opt(fields, "Наименование") or "",
        currency=_opt(fields, "Валюта") or "RUB",
        tax_name=_opt(tax_fields, "Наименование"),
        tax_included=None if included is None else _flag(included),
    )


def warehouse(el: El) -> Warehouse:
    """`Склад` of a `Склады` list."""
    fields = _first(el)
    address = fields.get("Адрес")
    text = None
    if address is not None:
        text = _opt(_first(address), "Представление") or text_of(address) or None
    return Warehouse(id=_req(fields, "Ид", el), name=_opt(fields, "Наименование") or "", address=text)


def _unit(el: El) -> tuple[str | None, str | None]:
    """(name, code) of `БазоваяЕдиница`: text in UT 10.3, attributes and children in UT 11 (§2.3)."""
    fields = _first(el)
    name = text_of(el) or el.get("НаименованиеКраткое") or _opt(fields, "НаименованиеКраткое")
    name = name or el.get("НаименованиеПолное") or _opt(fields, "НаименованиеПолное")
    code = (el.get("Код") or "").strip() or _opt(fields, "Код")
    return name or None, code


def _taxes(el: El) -> tuple[Tax, ...]:
    out: list[Tax] = []
    for _, item in kids(el):
        fields = _first(item)
        rate = fields.get("Ставка")
        rate_text = text_of(rate) if rate is not None else ""
        included = _opt(fields, "УчтеноВСумме")
        out.append(
            Tax(
                name=_opt(fields, "Наименование") or "",
                rate=decimal(rate_text, rate) if rate is not None and _numeric(rate_text) else None,
                amount=_opt_decimal(fields.get("Сумма")),
                included=None if included is None else _flag(included),
            )
        )
    return tuple(out)


def _numeric(text: str) -> bool:
    """`18` is a rate, `Без НДС` is not."""
    return any(ch.isdigit() for ch in text) and not any(ch.isalpha() for ch in text)


def _property_values(el: El) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for _, item in kids(el):
        prop_id = None
        values = []
        for tag, child in kids(item):
            if tag == "Ид":
                prop_id = text_of(child)
            elif tag in ("Значение", "ИдЗначения"):
                values.append(text_of(child))
        if prop_id:
            out.extend((prop_id, value) for value in values if value)
    return tuple(out)


def product(el: El) -> Product:
    """`Каталог/Товары/Товар`."""
    fields: dict[str, El] = {}
    groups: list[str] = []
    images: list[str] = []
    for tag, child in kids(el):
        if tag == "Группы":
            groups.extend(text_of(g) for _, g in kids(child) if text_of(g))
        elif tag == "Картинка":
            if text_of(child):
                images.append(text_of(child))
        else:
            fields.setdefault(tag, child)
    unit = fields.get("БазоваяЕдиница")
    unit_name, unit_code = _unit(unit) if unit is not None else (None, None)
    props, reqs, taxes = (
        fields.get("ЗначенияСвойств"),
        fields.get("ЗначенияРеквизитов"),
        fields.get("СтавкиНалогов"),
    )
    return Product(
        id=_req(fields, "Ид", el),
        name=_opt(fields, "Наименование") or "",
        article=_opt(fields, "Артикул"),
        barcode=_opt(fields, "Штрихкод"),
        unit=unit_name,
        unit_code=unit_code,
        group_ids=tuple(groups),
        description=_opt(fields, "Описание"),
        images=tuple(images),
        properties=_property_values(props) if props is not None else (),
        requisites=pairs(reqs) if reqs is not None else (),
        taxes=_taxes(taxes) if taxes is not None else (),
        deleted=_deleted(el, fields),
    )


def _prices(el: El) -> tuple[OfferPrice, ...]:
    out = []
    for _, item in kids(el):
        fields = _first(item)
        value = fields.get("ЦенаЗаЕдиницу")
        if value is None or not text_of(value):
            continue
        out.append(
            OfferPrice(
                price_type_id=_req(fields, "ИдТипаЦены", item),
                value=decimal(text_of(value), value),
                currency=_opt(fields, "Валюта"),
                unit=_opt(fields, "Единица"),
                ratio=_opt_decimal(fields.get("Коэффициент")),
            )
        )
    return tuple(out)


def _rests(el: El) -> tuple[Decimal | None, list[StockEntry]]:
    """`Остатки/Остаток`: either a total `Количество` or `Склад/{Ид, Количество}` (§2.5)."""
    total: Decimal | None = None
    stock = []
    for _, rest in kids(el):
        for tag, child in kids(rest):
            if tag == "Склад":
                fields = _first(child)
                qty = _opt_decimal(fields.get("Количество"))
                stock.append(StockEntry(warehouse_id=_req(fields, "Ид", child), quantity=qty or Decimal(0)))
            elif tag == "Количество":
                qty = _opt_decimal(child)
                total = qty if total is None or qty is None else total + qty
    return total, stock


def offer(el: El) -> Offer:
    """`Предложение` in any of the four stock shapes (§2.5)."""
    fields: dict[str, El] = {}
    stock: list[StockEntry] = []
    total: Decimal | None = None
    for tag, child in kids(el):
        if tag == "Склад":
            warehouse_id = child.get("ИдСклада")
            amount = child.get("КоличествоНаСкладе")
            if warehouse_id:
                stock.append(StockEntry(warehouse_id=warehouse_id, quantity=decimal(amount or "0", child)))
        elif tag == "Остатки":
            total, rests = _rests(child)
            stock.extend(rests)
        else:
            fields.setdefault(tag, child)
    offer_id = _req(fields, "Ид", el)
    product_id, _, characteristic = offer_id.partition("#")
    characteristic = characteristic or _opt(fields, "ИдХарактеристики") or ""
    quantity = _opt_decimal(fields.get("Количество"))
    chars, props, prices = (
        fields.get("ХарактеристикиТовара"),
        fields.get("ЗначенияСвойств"),
        fields.get("Цены"),
    )
    return Offer(
        id=offer_id,
        product_id=product_id,
        characteristic_id=characteristic or None,
        name=_opt(fields, "Наименование") or "",
        article=_opt(fields, "Артикул"),
        barcode=_opt(fields, "Штрихкод"),
        characteristics=pairs(chars) if chars is not None else (),
        properties=_property_values(props) if props is not None else (),
        prices=_prices(prices) if prices is not None else (),
        quantity=quantity if quantity is not None else total,
        stock=tuple(stock),
        deleted=_deleted(el, fields),
    )


def _address(el: El) -> Address:
    parts = []
    for tag, child in kids(el):
        if tag == "АдресноеПоле":
            sub = _first(child)
            parts.append((_opt(sub, "Тип") or "", _opt(sub, "Значение") or ""))
    return Address(text=child_text(el, "Представление") or "", fields=tuple(parts))


def _contacts(el: El) -> tuple[tuple[str, str], ...]:
    out = []
    for _, item in kids(el):
        fields = _first(item)
        kind = _opt(fields, "Тип") or _opt(fields, "КонтактВид") or ""
        value = _opt(fields, "Значение")
        if value:
            out.append((kind, value))
    return tuple(out)


def counterparty(el: El) -> Counterparty:
    """`Контрагент`; `ИНН`/`КПП` may sit inside `РеквизитыЮрЛица`/`РеквизитыФизЛица` (2.05+)."""
    found: dict[str, El] = {}
    stack = [el]
    while stack:
        node = stack.pop()
        for tag, child in kids(node):
            if tag in ("РеквизитыЮрЛица", "РеквизитыФизЛица"):
                stack.append(child)
            elif tag != "Представители":
                found.setdefault(tag, child)
    address, legal = found.get("АдресРегистрации"), found.get("ЮридическийАдрес")
    contacts = found.get("Контакты")
    return Counterparty(
        id=_opt(found, "Ид") or "",
        name=_opt(found, "Наименование") or "",
        role=_opt(found, "Роль"),
        full_name=_opt(found, "ПолноеНаименование"),
        official_name=_opt(found, "ОфициальноеНаименование"),
        last_name=_opt(found, "Фамилия"),
        first_name=_opt(found, "Имя"),
        inn=_opt(found, "ИНН"),
        kpp=_opt(found, "КПП"),
        address=_address(address) if address is not None else None,
        legal_address=_address(legal) if legal is not None else None,
        contacts=_contacts(contacts) if contacts is not None else (),
    )


def _discounts(el: El) -> tuple[Discount, ...]:
    out = []
    for _, item in kids(el):
        fields = _first(item)
        amount = _opt_decimal(fields.get("Сумма"))
        if amount is not None:
            included = _opt(fields, "УчтеноВСумме")
            out.append(
                Discount(
                    name=_opt(fields, "Наименование") or "",
                    amount=amount,
                    included=True if included is None else _flag(included),
                )
            )
    return tuple(out)


def _line(el: El) -> DocumentLine:
    fields = _first(el)
    unit = fields.get("БазоваяЕдиница")
    unit = unit if unit is not None else fields.get("Единица")
    quantity = _opt_decimal(fields.get("Количество"))
    price = _opt_decimal(fields.get("ЦенаЗаЕдиницу"))
    discounts, reqs = fields.get("Скидки"), fields.get("ЗначенияРеквизитов")
    taxes = fields.get("Налоги")
    taxes = taxes if taxes is not None else fields.get("СтавкиНалогов")
    return DocumentLine(
        id=_opt(fields, "Ид") or "",
        name=_opt(fields, "Наименование") or "",
        quantity=quantity if quantity is not None else Decimal(0),
        price=price if price is not None else Decimal(0),
        total=_opt_decimal(fields.get("Сумма")),
        catalog_id=_opt(fields, "ИдКаталога"),
        article=_opt(fields, "Артикул"),
        unit=_unit(unit)[0] if unit is not None else None,
        unit_code=_unit(unit)[1] if unit is not None else None,
        discounts=_discounts(discounts) if discounts is not None else (),
        taxes=_taxes(taxes) if taxes is not None else (),
        requisites=pairs(reqs) if reqs is not None else (),
    )


def document(el: El) -> Document:
    """`Документ` with counterparties, lines and requisites (§2.6, §2.7)."""
    fields = _first(el)
    parties = fields.get("Контрагенты")
    lines = fields.get("Товары")
    reqs, discounts, taxes = fields.get("ЗначенияРеквизитов"), fields.get("Скидки"), fields.get("Налоги")
    rate, total = _opt_decimal(fields.get("Курс")), _opt_decimal(fields.get("Сумма"))
    return Document(
        id=_opt(fields, "Ид") or "",
        number=_opt(fields, "Номер") or "",
        date=_opt(fields, "Дата") or "",
        operation=_opt(fields, "ХозОперация") or "",
        role=_opt(fields, "Роль") or "",
        currency=_opt(fields, "Валюта") or "",
        rate=rate if rate is not None else Decimal(1),
        total=total if total is not None else Decimal(0),
        time=_opt(fields, "Время"),
        comment=_opt(fields, "Комментарий"),
        counterparties=tuple(counterparty(c) for _, c in kids(parties)) if parties is not None else (),
        lines=tuple(_line(item) for _, item in kids(lines)) if lines is not None else (),
        discounts=_discounts(discounts) if discounts is not None else (),
        taxes=_taxes(taxes) if taxes is not None else (),
        requisites=pairs(reqs) if reqs is not None else (),
        basis=_opt(fields, "Основание"),
    )
