"""Codec items ⇄ canonical field maps: the decisions of `mapping.py`, and the way back (`outbound.py`)."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from obmen.connectors.commerceml import (
    Counterparty,
    Document,
    Offer,
    OfferPrice,
    PriceType,
    Product,
    RunContext,
    StockEntry,
    Unchanged,
    read,
    write_documents,
)
from obmen.connectors.commerceml.mapping import (
    TOTAL_STOCK,
    counterparty_fields,
    currency_code,
    offer_entity,
    offer_fields,
    order_fields,
    parse_datetime,
    product_entity,
    product_fields,
    total_warehouse_fields,
)
from obmen.connectors.commerceml.outbound import offer_from_fields, order_document, product_from_fields
from obmen.errors import ProtocolError
from obmen.model.fields import fingerprint, to_fields

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "commerceml"


def _docs(name: str) -> list[Document]:
    return [i for i in read(FIXTURES / name) if isinstance(i, Document)]


def test_a_product_without_characteristics_is_sold_through_its_own_offer() -> None:
    fields = offer_fields(Offer(id="p1", product_id="p1", name="Молоток"), RunContext().classifier)
    assert fields["product"] == {"$ref": "product", "id": "p1"}
    assert fields["xml_id"] == "p1"
    sku = offer_fields(
        Offer(id="p1#c2", product_id="p1", characteristic_id="c2", name="M"), RunContext().classifier
    )
    assert (sku["product"], sku["xml_id"]) == ({"$ref": "product", "id": "p1"}, "p1#c2")


def test_deletion_marks_become_inactive() -> None:
    classifier = RunContext().classifier
    assert product_fields(Product(id="p", name="x", deleted=True), classifier)["active"] is False
    assert offer_fields(Offer(id="p", product_id="p", name="x", deleted=True), classifier)["active"] is False


def test_prices_and_rests_files_update_only_what_they_carry() -> None:
    context = RunContext()
    context.classifier.price_types["pt"] = PriceType(id="pt", name="Розничная", currency="руб")
    prices = offer_fields(
        Offer(id="p", product_id="p", prices=(OfferPrice(price_type_id="pt", value=Decimal(5)),)),
        context.classifier,
    )
    rests = offer_fields(
        Offer(id="p", product_id="p", stock=(StockEntry(warehouse_id="w", quantity=Decimal(3)),)),
        context.classifier,
    )
    assert "stock" not in prices
    assert "name" not in prices
    assert "prices" not in rests
    assert prices["prices"] == [
        {"price_type": {"$ref": "price_type", "id": "pt"}, "value": {"amount": "5", "currency": "RUB"}}
    ]
    assert rests["stock"] == [{"warehouse": {"$ref": "warehouse", "id": "w"}, "quantity": "3"}]


def test_a_total_only_stock_is_a_level_of_the_total_pseudo_warehouse() -> None:
    fields = offer_fields(
        Offer(id="p", product_id="p", name="x", quantity=Decimal(7)), RunContext().classifier
    )
    assert fields["stock"] == [{"warehouse": {"$ref": "warehouse", "id": TOTAL_STOCK}, "quantity": "7"}]
    back = offer_from_fields("p", fields)
    assert (back.quantity, back.stock) == (Decimal(7), ())
    assert total_warehouse_fields()["xml_id"] == TOTAL_STOCK


def test_fingerprints_are_stable_across_reads_and_see_a_price_change() -> None:
    def prints() -> dict[str, str]:
        context = RunContext()
        list(read(FIXTURES / "ut11-small-2.07/import0_1.xml", context))
        return {
            o.id: fingerprint(offer_fields(o, context.classifier))
            for o in read(FIXTURES / "ut11-small-2.07/offers0_1.xml", context)
            if isinstance(o, Offer)
        }

    first, second = prints(), prints()
    assert first == second
    assert len(first) == 44
    offer = next(o for o in read(FIXTURES / "ut11-small-2.07/offers0_1.xml") if isinstance(o, Offer))
    changed = Offer(**{**{f: getattr(offer, f) for f in offer.__dataclass_fields__}, "prices": ()})
    assert fingerprint(offer_fields(changed, RunContext().classifier)) != first[offer.id]


def test_product_properties_resolve_through_the_classifier() -> None:
    context = RunContext()
    products = [
        i for i in read(FIXTURES / "ut11-outlet-2.07/import0_1.xml", context) if isinstance(i, Product)
    ]
    fields = product_fields(products[0], context.classifier)
    assert ["Производитель", "Обувной комбинат"] in fields["properties"] or fields["properties"]
    assert all(name.count("-") != 4 for name, _ in fields["properties"])  # names, not GUIDs
    assert fields["vat_rate"] in ("18", None)
    back = product_from_fields(products[0].id, fields)
    assert (back.id, back.name, back.group_ids) == (products[0].id, products[0].name, products[0].group_ids)


def test_a_bitrix_order_maps_status_payment_delivery_and_numbers() -> None:
    fields = order_fields(_docs("bitrix-site-orders-2.05/query-response-full.xml")[0])
    assert (fields["number"], fields["date"], fields["status"]) == ("132", "2021-02-11T18:45:21", "N")
    assert fields["customer"] == {"$ref": "counterparty", "id": "38#catalog_exchange#"}
    assert fields["payments"][0]["paid"] is False
    assert fields["payments"][0]["system"] == "При получении наличными или картой"
    assert fields["total"] == {"amount": "231.74", "currency": "RUB"}
    assert fields["lines"][0]["offer"] == {"$ref": "offer", "id": "910e89e5-205e-4d95-872a-0a0255c42f02"}
    assert fields["external_numbers"] == [["site", "132"]]
    assert (fields["site"], fields["cancelled"]) == ("s1", False)
    assert fields["comment"] == "Я повелитель порошочков"


def test_the_delivery_line_is_the_delivery_not_a_line() -> None:
    fields = order_fields(_docs("ut11-demo-carono/orders.xml")[0])
    assert fields["delivery"]["price"] == {"amount": "348", "currency": "RUB"}
    assert all(line["offer"]["id"] != "ORDER_DELIVERY" for line in fields["lines"])
    assert fields["status"] == "F"  # `[F] Доставлен`


def test_a_1c_document_maps_its_numbers_and_payment_and_keeps_the_status_it_does_not_send() -> None:
    doc = next(d for d in _docs("erp-2.07/orders.xml") if d.number == "4WD56")
    fields = order_fields(doc)
    assert "status" not in fields
    assert fields["external_numbers"] == [
        ["site", "4WD56"],
        ["onec", "ВК000001469"],
        ["onec_payment", "ВК000000531"],
        ["onec_shipment", "ВК01276"],
    ]
    assert fields["payments"][0]["paid"] is True
    assert fields["payments"][0]["paid_at"] == "2014-05-29T00:00:00"
    assert fields["total"]["currency"] == "UAH"


def test_cancelled_by_mark_or_flag() -> None:
    for name in ("Отменен", "ПометкаУдаления"):
        doc = Document(id="1", number="1", date="2024-01-02", requisites=((name, "true"),))
        assert order_fields(doc)["cancelled"] is True


def _round_trip(fields: dict[str, Any], customer: str | None, to: str) -> dict[str, Any]:
    out = io.BytesIO()
    write_documents(out, [order_document("x1", fields, customer_id=customer, to=to)], schema_version="2.10")
    return order_fields(next(i for i in read(io.BytesIO(out.getvalue())) if isinstance(i, Document)))


@pytest.mark.parametrize("index", [0, 1])
def test_a_site_order_survives_obmen_writing_it_for_1c(index: int) -> None:
    fields = order_fields(_docs("bitrix-site-orders-2.05/query-response-full.xml")[index])
    assert _round_trip(fields, fields["customer"]["id"], "onec") == fields


def test_1c_documents_survive_obmen_writing_them_for_a_site() -> None:
    for doc in _docs("erp-2.07/orders.xml"):
        fields = order_fields(doc, currency="UAH")
        back = _round_trip({**fields, "status": ""}, fields["customer"]["id"], "site")
        assert back == fields


def test_counterparty_kind_contacts_and_requisites() -> None:
    org = Counterparty(
        id="c", name="ООО Ромашка", official_name="ООО \"Ромашка\"", inn="7723240668", kpp="772301001",
        contacts=(("Почта", " Info@Example.RU "), ("ТелефонРабочий", "8 (912) 345-67-89")),
    )  # fmt: skip
    fields = counterparty_fields(org)
    assert (fields["kind"], fields["name"]) == ("organization", 'ООО "Ромашка"')
    assert (fields["emails"], fields["phones"]) == (["info@example.ru"], ["+79123456789"])
    assert fields["requisites"]["inn"] == "7723240668"
    person = counterparty_fields(Counterparty(id="p", last_name="Петров", first_name="Петр"))
    assert (person["kind"], person["name"], person["requisites"]) == ("person", "Петров Петр", None)


def test_currencies_and_dates_are_read_leniently_but_not_blindly() -> None:
    assert [currency_code(c) for c in ("руб", "643", "RUB", "грн", "usd", None)] == [
        "RUB",
        "RUB",
        "RUB",
        "UAH",
        "USD",
        "RUB",
    ]
    with pytest.raises(ProtocolError, match="currency"):
        currency_code("рубли РФ")
    assert parse_datetime("2014-06-01T0:36:33").isoformat() == "2014-06-01T00:36:33"
    assert parse_datetime("11.02.2021", "18:45:21").isoformat() == "2021-02-11T18:45:21"
    with pytest.raises(ProtocolError, match="date"):
        parse_datetime("вчера")
    with pytest.raises(ProtocolError, match="impossible"):
        parse_datetime("2021-02-30")


CARRIED = ("name", "article", "barcode", "characteristics", "prices", "stock")
#: Derived from prices and stock by the 1C connector (obmen.connectors.onec.connector), never in a file.
DERIVED = ("price", "quantity", "store_stock")


@pytest.mark.parametrize(
    "folder", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name != "xsd")
)
def test_the_fast_field_maps_equal_the_canonical_encoding(folder: str) -> None:
    """`product_fields`/`offer_fields` build dicts directly; they must equal `to_fields` of the entity."""
    context = RunContext()
    for path in sorted((FIXTURES / folder).glob("*.xml")):
        for item in read(path, context):
            if isinstance(item, Product):
                reference = to_fields(product_entity(item, context.classifier))
                assert product_fields(item, context.classifier) == reference
            elif isinstance(item, Offer):
                fast = offer_fields(item, context.classifier)
                reference = to_fields(offer_entity(item, context.classifier))
                assert fast == {k: v for k, v in reference.items() if k in fast}
                assert set(reference) - set(fast) <= {*CARRIED, *DERIVED}


def _digest_run(
    files: list[Path], held: dict[tuple[str, str], str]
) -> tuple[dict[tuple[str, str], str], int]:
    """Read a run with `known`; returns every (kind, id) → digest and how many came as `Unchanged`."""
    context, digests, unchanged = RunContext(), {}, 0
    for path in files:
        for item in read(path, context, known=lambda kind, ident, digest: held.get((kind, ident)) == digest):
            if isinstance(item, Unchanged):
                unchanged += 1
                digests[(item.kind, item.id)] = item.digest
            elif isinstance(item, Product | Offer):
                assert item.digest is not None
                digests[("product" if isinstance(item, Product) else "offer", item.id)] = item.digest
    return digests, unchanged


def test_known_digests_skip_unchanged_items_and_see_every_change(tmp_path: Path) -> None:
    folder = FIXTURES / "ut11-small-2.07"
    files = [folder / "import0_1.xml", folder / "offers0_1.xml"]
    first, unchanged = _digest_run(files, {})
    assert (len(first), unchanged) == (36 + 44, 0)
    again, unchanged = _digest_run(files, first)
    assert (again, unchanged) == (first, 80)
    offers = (folder / "offers0_1.xml").read_text(encoding="utf-8-sig")
    repriced = tmp_path / "offers0_1.xml"
    repriced.write_text(offers.replace("<ЦенаЗаЕдиницу>100<", "<ЦенаЗаЕдиницу>101<", 1), encoding="utf-8")
    _, unchanged = _digest_run([files[0], repriced], first)
    assert unchanged == 79
    # A classifier change alters how products map although their elements are the same bytes.
    catalog = (folder / "import0_1.xml").read_text(encoding="utf-8-sig")
    retyped = tmp_path / "import0_1.xml"
    retyped.write_text(catalog.replace(">Справочник<", ">Строка<", 1), encoding="utf-8")
    digests, unchanged = _digest_run([retyped], first)
    assert unchanged == 0
    assert len(digests) == 36


def test_a_digest_does_not_depend_on_the_files_encoding(tmp_path: Path) -> None:
    """UTF-8 or windows-1251 (docs/protocols/commerceml.md §1.9): the same items, the same digests."""
    folder = FIXTURES / "ut11-small-2.07"
    names = ["import0_1.xml", "offers0_1.xml"]
    first, _ = _digest_run([folder / n for n in names], {})
    for name in names:
        text = (folder / name).read_text(encoding="utf-8-sig")
        head, rest = text.split("?>", 1)
        (tmp_path / name).write_text(head.replace("UTF-8", "windows-1251") + "?>" + rest, encoding="cp1251")
    again, unchanged = _digest_run([tmp_path / n for n in names], first)
    assert (again, unchanged) == (first, 80)
