"""Writer → reader round trips, property-based: what obmen writes, it (and 1C) reads back unchanged."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from obmen.connectors.commerceml import (
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
    read,
    write_catalog,
    write_documents,
    write_offers,
)

# Letters of both alphabets, digits and the characters XML must escape; all of it fits windows-1251.
ALPHABET = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВЯЁ abcxyzXYZ0123456789-.,#/&<>\"'№"
text = st.text(ALPHABET, min_size=1, max_size=12).map(str.strip).filter(bool)
maybe = st.none() | text
ident = st.text("0123456789abcdef-", min_size=1, max_size=10).filter(lambda s: s.strip("-") != "")
amount = st.decimals(min_value=-(10**7), max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
quantity = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)
pairs = st.lists(st.tuples(text, st.just("") | text), max_size=3).map(tuple)
bools = st.booleans()
settings_ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

taxes = st.lists(
    st.builds(Tax, name=text, rate=st.none() | amount, amount=st.none() | amount, included=st.none() | bools),
    max_size=2,
).map(tuple)
discounts = st.lists(st.builds(Discount, name=text, amount=amount, included=bools), max_size=2).map(tuple)
address = st.builds(Address, text=text, fields=st.lists(st.tuples(text, text), max_size=2).map(tuple))
unit = st.one_of(
    st.tuples(st.none(), st.none()), st.tuples(text, st.none() | st.sampled_from(["796", "715", "166"]))
)

counterparty = st.builds(
    Counterparty,
    id=text,
    name=text,
    role=maybe,
    full_name=maybe,
    official_name=maybe,
    last_name=maybe,
    first_name=maybe,
    inn=st.none() | st.from_regex(r"\d{10}", fullmatch=True),
    kpp=st.none() | st.from_regex(r"\d{9}", fullmatch=True),
    address=st.none() | address,
    legal_address=st.none() | address,
    contacts=st.lists(st.tuples(st.sampled_from(["Почта", "ТелефонРабочий"]), text), max_size=2).map(tuple),
)


@st.composite
def lines(draw: st.DrawFn) -> DocumentLine:
    name, code = draw(unit)
    return DocumentLine(
        id=draw(ident),
        name=draw(text),
        quantity=draw(quantity),
        price=draw(amount),
        total=draw(st.none() | amount),
        catalog_id=draw(st.none() | ident),
        article=draw(maybe),
        unit=name,
        unit_code=code,
        discounts=draw(discounts),
        taxes=draw(taxes),
        requisites=draw(pairs),
    )


documents = st.builds(
    Document,
    id=ident,
    number=text,
    date=st.dates().map(lambda d: d.isoformat()),
    operation=text,
    role=text,
    currency=text,
    rate=amount,
    total=amount,
    time=st.none() | st.times().map(lambda t: t.replace(microsecond=0).isoformat()),
    comment=maybe,
    counterparties=st.lists(counterparty, max_size=2).map(tuple),
    lines=st.lists(lines(), max_size=3).map(tuple),
    discounts=discounts,
    taxes=taxes,
    requisites=pairs,
    basis=maybe,
)


@settings_
@given(
    docs=st.lists(documents, max_size=3),
    version=st.sampled_from(["2.05", "2.10"]),
    encoding=st.sampled_from(["windows-1251", "utf-8"]),
)
def test_documents_round_trip(docs: list[Document], version: str, encoding: str) -> None:
    out = io.BytesIO()
    write_documents(out, docs, schema_version=version, encoding=encoding)
    back = [item for item in read(io.BytesIO(out.getvalue())) if isinstance(item, Document)]
    assert back == docs


@st.composite
def group_forest(draw: st.DrawFn) -> list[Group]:
    ids = draw(st.lists(ident, unique=True, max_size=6))
    groups: list[Group] = []
    for i, group_id in enumerate(ids):
        parent = draw(st.none() | st.sampled_from(ids[:i])) if i else None
        groups.append(Group(id=group_id, name=draw(text), parent_id=parent, deleted=draw(bools)))
    return groups


@st.composite
def products(draw: st.DrawFn) -> Product:
    name, code = draw(unit)
    return Product(
        id=draw(ident),
        name=draw(text),
        article=draw(maybe),
        barcode=draw(st.none() | st.from_regex(r"\d{13}", fullmatch=True)),
        unit=name,
        unit_code=code,
        group_ids=tuple(draw(st.lists(ident, max_size=2))),
        description=draw(maybe),
        images=tuple(draw(st.lists(text, max_size=2))),
        properties=tuple(draw(st.lists(st.tuples(ident, text), max_size=3))),
        requisites=draw(pairs),
        taxes=draw(taxes),
        deleted=draw(bools),
    )


@st.composite
def offers(draw: st.DrawFn) -> Offer:
    product_id = draw(ident)
    characteristic = draw(st.none() | ident)
    offer_id = f"{product_id}#{characteristic}" if characteristic else product_id
    prices = st.builds(
        OfferPrice,
        price_type_id=ident,
        value=amount,
        currency=maybe,
        unit=maybe,
        ratio=st.none() | quantity,
    )
    return Offer(
        id=offer_id,
        product_id=product_id,
        characteristic_id=characteristic,
        name=draw(text),
        article=draw(maybe),
        barcode=draw(maybe),
        characteristics=draw(pairs),
        properties=tuple(draw(st.lists(st.tuples(ident, text), max_size=2))),
        prices=tuple(draw(st.lists(prices, max_size=3))),
        quantity=draw(st.none() | quantity),
        stock=tuple(draw(st.lists(st.builds(StockEntry, warehouse_id=ident, quantity=quantity), max_size=2))),
        deleted=draw(bools),
    )


properties = st.builds(
    Property,
    id=ident,
    name=text,
    value_type=st.sampled_from(["Справочник", "Строка", "Число"]),
    for_offers=bools,
    values=st.lists(st.builds(PropertyValue, id=ident, value=text), max_size=3).map(tuple),
)
price_types = st.one_of(
    st.builds(PriceType, id=ident, name=text, currency=text, tax_name=st.none(), tax_included=st.none()),
    st.builds(PriceType, id=ident, name=text, currency=text, tax_name=text, tax_included=st.none() | bools),
)
warehouses = st.builds(Warehouse, id=ident, name=text, address=maybe)


@settings_
@given(
    groups=group_forest(),
    props=st.lists(properties, max_size=3),
    goods=st.lists(products(), max_size=4),
    encoding=st.sampled_from(["windows-1251", "utf-8"]),
    changes_only=bools,
)
def test_catalog_round_trip(
    groups: list[Group], props: list[Property], goods: list[Product], encoding: str, changes_only: bool
) -> None:
    out = io.BytesIO()
    write_catalog(
        out, iter(goods), classifier_id="cls", catalog_id="cat", groups=groups, properties=props,
        encoding=encoding, changes_only=changes_only,
    )  # fmt: skip
    items = list(read(io.BytesIO(out.getvalue())))
    assert [i for i in items if isinstance(i, Product)] == goods
    assert [i for i in items if isinstance(i, Property)] == props
    back = [i for i in items if isinstance(i, Group)]
    assert sorted(back, key=lambda g: g.id) == sorted(groups, key=lambda g: g.id)
    assert all(g.parent_id is None or g.parent_id in {b.id for b in back[:n]} for n, g in enumerate(back))


@settings_
@given(
    sellable=st.lists(offers(), max_size=4),
    kinds=st.lists(price_types, max_size=3),
    stores=st.lists(warehouses, max_size=2),
    shape=st.sampled_from(["attributes", "rests"]),
)
def test_offers_round_trip(
    sellable: list[Offer], kinds: list[PriceType], stores: list[Warehouse], shape: str
) -> None:
    out = io.BytesIO()
    write_offers(
        out, sellable, package_id="cat#", catalog_id="cat", classifier_id="cls",
        price_types=kinds, warehouses=stores, stock_shape=shape,
    )  # fmt: skip
    items = list(read(io.BytesIO(out.getvalue())))
    assert [i for i in items if isinstance(i, Offer)] == sellable
    assert [i for i in items if isinstance(i, PriceType)] == kinds
    assert [i for i in items if isinstance(i, Warehouse)] == stores


def test_a_written_bitrix_answer_keeps_the_bitrix_byte_shape() -> None:
    doc = Document(id="132", number="132", date="2021-02-11", currency="руб", total=Decimal("231.7400"))
    out = io.BytesIO()
    write_documents(out, [doc], generated_at="2021-02-12T17:03:19")
    data = out.getvalue()
    assert data.startswith(b'<?xml version="1.0" encoding="windows-1251"?>\n')
    text = data.decode("cp1251")
    assert (
        'ВерсияСхемы="2.05" ДатаФормирования="2021-02-12T17:03:19" ФорматДаты="ДФ=yyyy-MM-dd; ДЛФ=DT"' in text
    )
    assert "<Сумма>231.7400</Сумма>" in text
    assert "<Комментарий></Комментарий>" in text


@settings_
@given(
    name=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp")), min_size=1)
    .map(str.strip)
    .filter(bool)
)
@example(name="\U000e0001")  # libxml2's windows-1251 output dropped it; no character reference
def test_any_text_survives_windows_1251_as_character_references(name: str) -> None:
    doc = Document(id="1", number=name, date="2024-01-01", comment=name)
    out = io.BytesIO()
    write_documents(out, [doc], encoding="windows-1251")
    back = next(i for i in read(io.BytesIO(out.getvalue())) if isinstance(i, Document))
    assert (back.number, back.comment) == (name, name)


def test_control_characters_are_refused_with_the_item_named() -> None:
    doc = Document(id="42", number="a\x01b", date="2024-01-01")
    with pytest.raises(ValueError, match="Document '42'"):
        write_documents(io.BytesIO(), [doc])
