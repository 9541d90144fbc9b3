"""Creates, changes and posting through the sandbox's OData interface, by 1C's rules.

- `POST /<Set>` creates and answers the new object with its `Ref_Key`; `PATCH /<Set>(guid'…')` changes only
  the properties it names, except that **a tabular part it names replaces the whole part** (the rows not
  sent are gone).
- `Posted` is never written in a body: posting is `POST …/Post?PostingModeOperational=false`, `…/Unpost`.
- A document is not created without `Date`; a property the object does not have is refused.
- `If-Match: <DataVersion>` on a PATCH that no longer matches answers 412.
- Posting a customer order that names no counterparty or no goods fails as 1C's processor does (500).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen_sandbox.onec.infobase import Counterparty, Infobase, Order, OrderLine, Partner
from obmen_sandbox.onec.odata.rows import EMPTY, as_guid, data_version
from obmen_sandbox.onec.odata.schema import ENTITY_SETS

__all__ = ["ODataFault", "create", "decimal_of", "find", "guid_of", "patch", "post"]


class ODataFault(Exception):
    """An error 1C answers as `{"odata.error": {"code", "message"}}` with an HTTP status."""

    def __init__(self, status: int, message: str, code: str = "-1") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _check(name: str, body: dict[str, Any]) -> None:
    entity = ENTITY_SETS[name]
    if "Posted" in body:
        raise ODataFault(400, "Свойство Posted нельзя записать: проведение выполняется методом Post")
    unknown = sorted(set(body) - entity.fields - {"Ref_Key", "DataVersion"})
    if unknown:
        raise ODataFault(400, f"Неизвестное свойство / unknown property: {', '.join(unknown)}", "12")


def decimal_of(value: Any, what: str, *, signed: bool = True) -> Decimal:
    """A body's number (absent: 0), or a 400 naming the field; `signed=False` refuses one below zero."""
    try:
        number = Decimal(str(value if value is not None else 0))
    except InvalidOperation as exc:
        raise ODataFault(400, f"{what}: не число / not a number: {value!r}") from exc
    if not number.is_finite():
        raise ODataFault(400, f"{what}: не число / not a number: {value!r}")
    if not signed and number < 0:
        raise ODataFault(400, f"{what}: не число ≥ 0 / not a number ≥ 0: {value!r}")
    return number


def guid_of(value: Any, what: str) -> str:
    """A body's GUID in its canonical form, or a 400 naming the field."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise ODataFault(400, f"{what}: не GUID / not a GUID: {value!r}") from exc


def find(base: Infobase, name: str, key: str) -> Order | Counterparty | Partner | None:
    """The writable object behind `<Set>(guid'key')`."""
    if name == "Document_ЗаказКлиента":
        return next((o for o in base.orders.values() if as_guid(o.onec_id) == key), None)
    if name == "Catalog_Контрагенты":
        return next((c for c in base.counterparties.values() if as_guid(c.id) == key), None)
    if name == "Catalog_Партнеры":
        return base.partners.get(key)
    return None


def _offer_of(base: Infobase, product_key: str, char_key: str) -> tuple[str, str]:
    """The offer `Ид` and the name of an order line's `Номенклатура_Key` + `Характеристика_Key`."""
    product = next((p for p in base.products.values() if as_guid(p.id) == product_key), None)
    if product is None:
        raise ODataFault(400, f"Номенклатура {product_key} не найдена / no such product")
    if char_key in ("", EMPTY):
        return product.id, product.name
    offer = next(
        (o for o in base.offers_of(product.id) if "#" in o.id and as_guid(o.id.split("#", 1)[1]) == char_key),
        None,
    )
    if offer is None:
        raise ODataFault(400, f"Характеристика {char_key} не найдена / no such characteristic")
    return offer.id, offer.name


def _goods(base: Infobase, rows: Any) -> list[OrderLine]:
    if not isinstance(rows, list):
        raise ODataFault(400, "Товары: ожидается массив строк / an array of rows is expected")
    lines = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ODataFault(400, f"Товары[{n}]: ожидается объект / an object is expected")
        offer, label = _offer_of(
            base,
            guid_of(row.get("Номенклатура_Key"), f"Товары[{n}].Номенклатура_Key"),
            str(row.get("Характеристика_Key") or EMPTY),
        )
        quantity = decimal_of(row.get("Количество"), f"Товары[{n}].Количество")
        price = decimal_of(row.get("Цена"), f"Товары[{n}].Цена")
        amount = decimal_of(row.get("Сумма", price * quantity), f"Товары[{n}].Сумма")
        vat = str(row.get("СтавкаНДС") or "НДС20")
        vat_sum = (
            decimal_of(row["СуммаНДС"], f"Товары[{n}].СуммаНДС") if row.get("СуммаНДС") is not None else None
        )
        lines.append(OrderLine(offer, label, quantity, price, amount, vat=vat, vat_sum=vat_sum))
    return lines


def _apply_order(base: Infobase, order: Order, body: dict[str, Any]) -> None:
    simple = {"Number": "onec_number", "НомерПоДаннымКлиента": "number", "Комментарий": "comment",
              "Статус": "status", "Date": "onec_date", "ДатаПоДаннымКлиента": "date"}  # fmt: skip
    for prop, attr in simple.items():
        if prop in body:
            setattr(order, attr, str(body[prop] or ""))
    if "Контрагент_Key" in body:
        key = guid_of(body["Контрагент_Key"], "Контрагент_Key")
        party = find(base, "Catalog_Контрагенты", key)
        if party is None and key != EMPTY:
            raise ODataFault(400, f"Контрагент {key} не найден / no such counterparty")
        order.counterparty = party.id if isinstance(party, Counterparty) else ""
    if "Партнер_Key" in body:
        order.site_requisites["Партнер_Key"] = guid_of(body["Партнер_Key"], "Партнер_Key")
    if "СуммаДокумента" in body:
        order.total = decimal_of(body["СуммаДокумента"], "СуммаДокумента")
    if "DeletionMark" in body:
        order.deleted = bool(body["DeletionMark"])
        order.cancelled = order.deleted
    if "ЦенаВключаетНДС" in body:
        order.prices_include_vat = bool(body["ЦенаВключаетНДС"])
    if "Товары" in body:
        # The whole tabular part is replaced: rows not sent are gone (docs: 1C's rule for PATCH).
        order.lines = _goods(base, body["Товары"])
        if "СуммаДокумента" not in body:
            # Prices without VAT: the document's sum adds each line's `СуммаНДС` to its `Сумма`.
            on_top = (
                Decimal(0)
                if order.prices_include_vat
                else sum((line.vat_sum or Decimal(0) for line in order.lines), Decimal(0))
            )
            order.total = sum((line.amount for line in order.lines), Decimal(0)) + on_top


def _apply_party(base: Infobase, party: Counterparty, body: dict[str, Any]) -> None:
    simple = {"Description": "name", "НаименованиеПолное": "full_name", "ИНН": "inn", "КПП": "kpp",
              "ЮрФизЛицо": "legal", "АдресРегистрации": "address"}  # fmt: skip
    for prop, attr in simple.items():
        if prop in body:
            setattr(party, attr, str(body[prop] or ""))
    if "Партнер_Key" in body:
        key = guid_of(body["Партнер_Key"], "Партнер_Key")
        if key != EMPTY and key not in base.partners:
            raise ODataFault(400, f"Партнер {key} не найден / no such partner")
        party.partner = key
    if "КонтактнаяИнформация" in body:
        rows = body["КонтактнаяИнформация"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ODataFault(
                400, "КонтактнаяИнформация: ожидается массив строк / an array of rows is expected"
            )
        party.contacts = [(str(r.get("Тип") or ""), str(r.get("Представление") or "")) for r in rows]


def create(base: Infobase, name: str, body: dict[str, Any]) -> Order | Counterparty | Partner:
    """`POST /<Set>`: a new object; its `Ref_Key` is made here."""
    if not ENTITY_SETS[name].writable:
        raise ODataFault(405, f"{name}: создание не поддерживается / read-only in the sandbox")
    _check(name, body)
    # A client may give the new object's reference itself; one that exists already is refused.
    ref = guid_of(body["Ref_Key"], "Ref_Key") if body.get("Ref_Key") else str(uuid.uuid4())
    if find(base, name, ref) is not None:
        raise ODataFault(400, f"{name}({ref}): объект с такой ссылкой уже существует / already exists")
    if name == "Catalog_Партнеры":
        partner = Partner(ref, str(body.get("Description") or ""), rev=base.stamp())
        base.partners[ref] = partner
        return partner
    if name == "Catalog_Контрагенты":
        party = Counterparty(ref, str(body.get("Description") or ""))
        _apply_party(base, party, body)
        party.rev = base.stamp()
        base.counterparties[ref] = party
        return party
    if not body.get("Date"):
        raise ODataFault(400, "Поле «Дата» не заполнено / a document needs Date")
    base.order_counter += 1
    order = Order(ref, "", "", ref, f"ОБ-{base.order_counter:06d}", str(body["Date"]), status="НеСогласован")
    _apply_order(base, order, body)
    order.rev = base.stamp()
    # Made through OData, not by the site exchange: nothing to upload to the site.
    order.uploaded_rev = order.rev
    base.orders[ref] = order
    return order


def patch(base: Infobase, name: str, key: str, body: dict[str, Any], if_match: str | None) -> Any:
    """`PATCH /<Set>(guid'key')`: only what the body names (a tabular part whole)."""
    target = find(base, name, key)
    if target is None:
        raise ODataFault(404, f"{name}({key}): объект не найден / not found", "3")
    _check(name, body)
    if if_match is not None and if_match.strip('"') != data_version(target.rev):
        raise ODataFault(412, "Версия данных изменилась / DataVersion does not match", "5")
    if isinstance(target, Order):
        _apply_order(base, target, body)
    elif isinstance(target, Counterparty):
        _apply_party(base, target, body)
    elif "Description" in body:
        target.name = str(body["Description"] or "")
    target.rev = base.stamp()
    return target


def post(base: Infobase, name: str, key: str, action: str) -> Order:
    """`POST …/Post` or `…/Unpost` of a customer order."""
    order = find(base, name, key) if name == "Document_ЗаказКлиента" else None
    if not isinstance(order, Order):
        raise ODataFault(404, f"{name}({key}): документ не найден / not found", "3")
    if action == "Post" and (not order.counterparty or not order.lines):
        raise ODataFault(500, "Error running processor: не заполнены Контрагент или Товары / nothing to post")
    order.posted = action == "Post"
    order.rev = base.stamp()
    return order
