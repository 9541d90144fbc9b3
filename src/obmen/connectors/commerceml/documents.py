"""One finished `Документ` element → a codec `Document` (docs/protocols/commerceml.md §2.6, §2.7)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from obmen.connectors.commerceml.elements import (
    El,
    child_text,
    first,
    flag,
    kids,
    opt,
    opt_decimal,
    pairs,
    taxes_of,
    unit_of,
)
from obmen.connectors.commerceml.items import Address, Counterparty, Discount, Document, DocumentLine

__all__ = ["counterparty", "document"]


def _address(el: El) -> Address:
    parts = []
    for tag, child in kids(el):
        if tag == "АдресноеПоле":
            sub = first(child)
            parts.append((opt(sub, "Тип") or "", opt(sub, "Значение") or ""))
    return Address(text=child_text(el, "Представление") or "", fields=tuple(parts))


def _contacts(el: El) -> tuple[tuple[str, str], ...]:
    out = []
    for _, item in kids(el):
        fields = first(item)
        kind = opt(fields, "Тип") or opt(fields, "КонтактВид") or ""
        value = opt(fields, "Значение")
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
        id=opt(found, "Ид") or "",
        name=opt(found, "Наименование") or "",
        role=opt(found, "Роль"),
        full_name=opt(found, "ПолноеНаименование"),
        official_name=opt(found, "ОфициальноеНаименование"),
        last_name=opt(found, "Фамилия"),
        first_name=opt(found, "Имя"),
        inn=opt(found, "ИНН"),
        kpp=opt(found, "КПП"),
        address=_address(address) if address is not None else None,
        legal_address=_address(legal) if legal is not None else None,
        contacts=_contacts(contacts) if contacts is not None else (),
    )


def _discounts(el: El) -> tuple[Discount, ...]:
    out = []
    for _, item in kids(el):
        fields = first(item)
        amount = opt_decimal(fields.get("Сумма"))
        if amount is not None:
            included = opt(fields, "УчтеноВСумме")
            out.append(
                Discount(
                    name=opt(fields, "Наименование") or "",
                    amount=amount,
                    included=True if included is None else flag(included),
                )
            )
    return tuple(out)


def _unit_price(
    per_unit: Decimal | None, price: Decimal | None, total: Decimal | None, quantity: Decimal | None
) -> Decimal | None:
    """`ЦенаЗаЕдиницу`, else `Цена`, else `Сумма / Количество` to the kopeck.

    1C:УТ 11 sends an order's lines back with `Цена` and `Сумма` but no `ЦенаЗаЕдиницу`
    (docs/protocols/commerceml.md §2.7): reading that as no price would zero the order's rows.
    """
    if per_unit is not None:
        return per_unit
    if price is not None:
        return price
    if total is not None and quantity:
        return (total / quantity).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return None


def _line(el: El) -> DocumentLine:
    fields = first(el)
    unit = fields.get("БазоваяЕдиница")
    unit = unit if unit is not None else fields.get("Единица")
    quantity = opt_decimal(fields.get("Количество"))
    total = opt_decimal(fields.get("Сумма"))
    price = _unit_price(
        opt_decimal(fields.get("ЦенаЗаЕдиницу")), opt_decimal(fields.get("Цена")), total, quantity
    )
    discounts, reqs = fields.get("Скидки"), fields.get("ЗначенияРеквизитов")
    taxes = fields.get("Налоги")
    taxes = taxes if taxes is not None else fields.get("СтавкиНалогов")
    return DocumentLine(
        id=opt(fields, "Ид") or "",
        name=opt(fields, "Наименование") or "",
        quantity=quantity if quantity is not None else Decimal(0),
        price=price if price is not None else Decimal(0),
        total=total,
        catalog_id=opt(fields, "ИдКаталога"),
        article=opt(fields, "Артикул"),
        unit=unit_of(unit)[0] if unit is not None else None,
        unit_code=unit_of(unit)[1] if unit is not None else None,
        discounts=_discounts(discounts) if discounts is not None else (),
        taxes=taxes_of(taxes) if taxes is not None else (),
        requisites=pairs(reqs) if reqs is not None else (),
    )


def document(el: El) -> Document:
    """`Документ` with counterparties, lines and requisites (§2.6, §2.7)."""
    fields = first(el)
    parties = fields.get("Контрагенты")
    lines = fields.get("Товары")
    reqs, discounts, taxes = fields.get("ЗначенияРеквизитов"), fields.get("Скидки"), fields.get("Налоги")
    rate, total = opt_decimal(fields.get("Курс")), opt_decimal(fields.get("Сумма"))
    return Document(
        id=opt(fields, "Ид") or "",
        number=opt(fields, "Номер") or "",
        date=opt(fields, "Дата") or "",
        operation=opt(fields, "ХозОперация") or "",
        role=opt(fields, "Роль") or "",
        currency=opt(fields, "Валюта") or "",
        rate=rate if rate is not None else Decimal(1),
        total=total if total is not None else Decimal(0),
        time=opt(fields, "Время"),
        comment=opt(fields, "Комментарий"),
        counterparties=tuple(counterparty(c) for _, c in kids(parties)) if parties is not None else (),
        lines=tuple(_line(item) for _, item in kids(lines)) if lines is not None else (),
        discounts=_discounts(discounts) if discounts is not None else (),
        taxes=taxes_of(taxes) if taxes is not None else (),
        requisites=pairs(reqs) if reqs is not None else (),
        basis=opt(fields, "Основание"),
    )
