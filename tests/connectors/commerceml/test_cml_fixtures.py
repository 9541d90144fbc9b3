"""Every real fixture is read with the true counts (docs/protocols/commerceml.md).

See §3, fixtures/commerceml/SOURCES.md.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from obmen.connectors.commerceml import (
    Counterparty,
    Document,
    DocumentKind,
    FileInfo,
    Group,
    Item,
    Offer,
    PriceType,
    Product,
    Property,
    RunContext,
    Section,
    SectionKind,
    Warehouse,
    read,
    sniff,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml"

KINDS = {Group: "groups", Property: "props", PriceType: "ptypes", Warehouse: "wh", Product: "goods"}
KINDS.update({Offer: "offers", Document: "docs", Counterparty: "parties"})

# Counted independently with a whole-tree lxml parse (children of `Группы`, `Товары` under `Каталог`,
# `Предложения`, `ТипыЦен`, `Склады` outside offers, `Свойства`, root `Документ`).
CASES = [
    ("authored/counterparties-2.09.xml", DocumentKind.COUNTERPARTIES, {"parties": 2}),
    ("bitrix-site-orders-2.05/query-response-empty.xml", DocumentKind.EMPTY, {}),
    ("bitrix-site-orders-2.05/query-response-full.xml", DocumentKind.DOCUMENTS, {"docs": 2}),
    ("erp-2.07/import.xml", DocumentKind.CATALOG, {"groups": 28, "props": 41, "goods": 249}),
    ("erp-2.07/offers.xml", DocumentKind.OFFERS, {"ptypes": 12, "wh": 19, "offers": 222}),
    ("erp-2.07/orders.xml", DocumentKind.DOCUMENTS, {"docs": 216}),
    ("official-samples-2.03/import.xml", DocumentKind.CATALOG, {"groups": 1, "goods": 4}),
    ("official-samples-2.03/offers.xml", DocumentKind.OFFERS, {"ptypes": 4, "offers": 2}),
    ("official-samples-2.03/orders.xml", DocumentKind.DOCUMENTS, {"docs": 3}),
    ("ut10-2.05-django/import.xml", DocumentKind.CATALOG, {"groups": 36, "props": 3, "goods": 282}),
    ("ut10-skus-2.04/import.xml", DocumentKind.CATALOG, {"groups": 4, "props": 1, "goods": 27}),
    ("ut10-skus-2.04/offers.xml", DocumentKind.OFFERS, {"ptypes": 2, "offers": 1455}),
    ("ut11-2.08-ns210/classifier.xml", DocumentKind.CLASSIFIER, {"groups": 5, "props": 3}),
    ("ut11-2.08-ns210/import.xml", DocumentKind.CATALOG, {"groups": 5, "props": 3, "goods": 2}),
    ("ut11-2.08-ns210/offers.xml", DocumentKind.OFFERS, {"props": 1, "ptypes": 3, "offers": 2}),
    ("ut11-demo-carono/classifier.xml", DocumentKind.CLASSIFIER, {"groups": 22, "props": 10}),
    ("ut11-demo-carono/import.xml", DocumentKind.CATALOG, {"groups": 22, "props": 10, "goods": 2}),
    ("ut11-demo-carono/import_wo_classifier.xml", DocumentKind.CATALOG, {"goods": 2}),
    ("ut11-demo-carono/offers.xml", DocumentKind.OFFERS, {"ptypes": 1, "wh": 5, "offers": 5}),
    ("ut11-demo-carono/orders.xml", DocumentKind.DOCUMENTS, {"docs": 1}),
    ("ut11-outlet-2.07/import0_1.xml", DocumentKind.CATALOG, {"groups": 59, "props": 10, "goods": 1197}),
    ("ut11-outlet-2.07/offers0_1.xml", DocumentKind.OFFERS, {"ptypes": 1, "wh": 6, "offers": 2641}),
    ("ut11-small-2.07/import0_1.xml", DocumentKind.CATALOG, {"groups": 1, "props": 12, "goods": 36}),
    (
        "ut11-small-2.07/import0_1_with_nested_groups.xml",
        DocumentKind.CATALOG,
        {"groups": 13, "props": 20, "goods": 283},
    ),
    ("ut11-small-2.07/offers0_1.xml", DocumentKind.OFFERS, {"ptypes": 1, "wh": 3, "offers": 44}),
]


def _items(name: str, context: RunContext | None = None) -> list[Item]:
    return list(read(FIXTURES / name, context))


T = TypeVar("T")


def _only(items: list[Item], kind: type[T]) -> list[T]:
    return [item for item in items if isinstance(item, kind)]


def test_every_fixture_file_has_a_case() -> None:
    files = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.xml")}
    assert files == {name for name, _, _ in CASES}


@pytest.mark.parametrize(("name", "kind", "counts"), CASES, ids=[c[0] for c in CASES])
def test_fixture_counts(name: str, kind: DocumentKind, counts: dict[str, int]) -> None:
    items = _items(name)
    info = items[0]
    assert isinstance(info, FileInfo)
    assert info.kind is kind
    assert sniff(FIXTURES / name) is kind
    seen = Counter(KINDS[type(item)] for item in items if type(item) in KINDS)
    assert dict(seen) == counts


def test_ut11_outlet_products_offers_and_stock() -> None:
    context = RunContext()
    items = _items("ut11-outlet-2.07/import0_1.xml", context)
    info = items[0]
    assert isinstance(info, FileInfo)
    assert (info.schema_version, info.namespace) == ("2.07", "urn:1C.ru:commerceml_2")
    boots = next(p for p in _only(items, Product) if p.id == "bd72d910-55bc-11d9-848a-00112f43529a")
    assert (boots.name, boots.article, boots.barcode) == (
        "Женские ботфорты коричневые",
        "Б-130001",
        "2000018987155",
    )
    assert (boots.unit, boots.unit_code) == ("Пара (2 шт.)", "715")
    assert boots.group_ids == ("bd72d90e-55bc-11d9-848a-00112f43529a",)
    assert context.classifier.property_value(*boots.properties[0]) == ("Производитель", "Обувной комбинат")
    assert boots.taxes[0].rate == Decimal(18)
    offers = _only(_items("ut11-outlet-2.07/offers0_1.xml", context), Offer)
    assert sum(1 for o in offers if o.characteristic_id) == 2100
    size_38 = next(o for o in offers if o.id.endswith("#90c55447-d3a8-11e4-9423-e0cb4ed5eed4"))
    assert size_38.product_id == boots.id
    assert size_38.prices[0].value == Decimal(1719)
    assert size_38.quantity == Decimal(20)
    assert size_38.stock[0].warehouse_id == "b6112590-41ba-11dd-ac9d-0015e9b8c48d"


def test_nested_groups_come_parents_first() -> None:
    groups = _only(_items("ut11-small-2.07/import0_1_with_nested_groups.xml"), Group)
    seen: set[str] = set()
    for group in groups:
        assert group.parent_id is None or group.parent_id in seen
        seen.add(group.id)
    assert any(g.parent_id is not None for g in groups)


def test_erp_deletion_marks_images_twelve_price_types_and_empty_offers() -> None:
    products = _only(_items("erp-2.07/import.xml"), Product)
    assert sum(p.deleted for p in products) == 3
    assert sum(len(p.images) for p in products) == 254
    assert sum(any(k == "ОписаниеВФорматеHTML" for k, _ in p.requisites) for p in products) == 196
    offers = _only(_items("erp-2.07/offers.xml"), Offer)
    assert sum(len(o.prices) for o in offers) == 2108
    assert offers[0].prices[0].currency == "UAH"
    assert offers[0].id == "ce0272e6-f544-11e3-85fa-00155d13641d"  # a plain Ид: no characteristic
    assert offers[0].characteristic_id is None
    assert len(offers[0].stock) == 19


def test_ut10_sku_characteristics_spelled_out() -> None:
    offers = _only(_items("ut10-skus-2.04/offers.xml"), Offer)
    assert sum(len(o.characteristics) for o in offers) == 4480
    assert offers[0].characteristics[:2] == (("Размер", "43"), ("Полнота", "5"))


def test_ns210_namespace_lies_about_the_version() -> None:
    items = _items("ut11-2.08-ns210/offers.xml")
    info = items[0]
    assert isinstance(info, FileInfo)
    assert (info.schema_version, info.namespace) == ("2.08", "urn:1C.ru:commerceml_210")
    prop = _only(items, Property)[0]
    assert prop.for_offers
    offer = _only(items, Offer)[0]
    assert offer.characteristics == (("Цвет", "Бежевый"),)
    assert offer.properties == (
        ("5ea1e6c2-cc93-11e8-8112-0050569b2b72", "6efed1d2-cc93-11e8-8112-0050569b2b72"),
    )
    assert len(offer.prices) == 3


def test_split_classifier_is_kept_across_the_files_of_a_run() -> None:
    context = RunContext()
    _items("ut11-demo-carono/classifier.xml", context)
    items = _items("ut11-demo-carono/import_wo_classifier.xml", context)
    section = _only(items, Section)[0]
    assert section.kind is SectionKind.CATALOG
    assert section.classifier_id == context.classifier.id
    product = _only(items, Product)[0]
    assert context.classifier.property_value(*product.properties[0]) == ("Производитель", "Обувной комбинат")
    alone = RunContext()
    _items("ut11-demo-carono/import_wo_classifier.xml", alone)
    assert alone.classifier.property_value(*product.properties[0])[0] == product.properties[0][0]


def test_bitrix_site_orders_windows_1251() -> None:
    docs = _only(_items("bitrix-site-orders-2.05/query-response-full.xml"), Document)
    first = docs[0]
    assert (first.id, first.number, first.date, first.time) == ("132", "132", "2021-02-11", "18:45:21")
    assert (first.currency, first.total) == ("руб", Decimal("231.7400"))
    assert first.counterparties[0].id == "38#catalog_exchange#"
    assert first.requisite("Статуса заказа ИД") == "N"
    assert first.requisite("Статус заказа") == "[N] Принят, ожидается оплата"
    assert len(docs[1].lines) == 7
    assert docs[1].lines[0].unit_code == "796"


def test_carono_order_has_a_delivery_line_and_a_contact_person() -> None:
    doc = _only(_items("ut11-demo-carono/orders.xml"), Document)[0]
    assert doc.lines[0].id == "ORDER_DELIVERY"
    assert doc.lines[0].price == Decimal("348.00")
    party = doc.counterparties[0]
    assert (party.id, party.last_name, party.first_name) == ("1#admin#Петров Петр", "Петров", "Петр")
    assert party.address is not None
    assert ("Почтовый индекс", "6546") in party.address.fields


def test_erp_documents_from_1c_carry_1c_numbers_trimmed() -> None:
    docs = _only(_items("erp-2.07/orders.xml"), Document)
    assert all(d.requisite("Номер по 1С") for d in docs)
    assert sum(1 for d in docs if d.requisite("Номер отгрузки по 1С")) == 206
    assert sum(1 for d in docs if d.requisite("Номер оплаты по 1С")) == 157
    doc = next(d for d in docs if d.number == "4WD56")
    assert doc.requisite("Номер по 1С") == "ВК000001469"
    assert doc.requisite("Номер отгрузки по 1С") == "ВК01276"  # padded with spaces in the file


def test_official_samples_orders_status() -> None:
    docs = _only(_items("official-samples-2.03/orders.xml"), Document)
    assert all(d.requisite("Статус заказа") is not None for d in docs)


def test_the_path_is_only_a_hint(tmp_path: Path) -> None:
    copy = tmp_path / "import.xml"
    copy.write_bytes((FIXTURES / "ut11-demo-carono/offers.xml").read_bytes())
    assert sniff(copy) is DocumentKind.OFFERS
