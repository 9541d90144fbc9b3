"""Canonical fields ⇄ Bitrix24 objects: what goes out must read back as the same canonical value."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from obmen.config.mapping import PipelineMap
from obmen.connectors.bitrix24.crm.fields import (
    deal_from_order,
    order_from_deal,
    party_fields,
    party_from_crm,
    rows_from_lines,
    split_party,
)
from obmen.model.fields import decimal_text

PIPE = PipelineMap(
    category_id=3, status_to_stage={"N": "NEW", "P": "EXECUTING", "F": "WON"}, stage_to_status={"WON": "F"}
)

amounts = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False).map(decimal_text)
money = st.builds(lambda a: {"amount": a, "currency": "RUB"}, amounts)
names = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30
).filter(lambda s: not s.startswith("Доставка"))


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    price = Decimal(draw(amounts))
    discount = draw(
        st.one_of(st.none(), st.decimals(min_value=1, max_value=100, places=2).filter(lambda d: d <= price))
    )
    return {
        "offer": draw(
            st.one_of(st.none(), st.integers(1, 10**6).map(lambda i: {"$ref": "offer", "id": str(i)}))
        ),
        "name": draw(names),
        "quantity": decimal_text(draw(st.decimals(min_value=1, max_value=1000, places=3))),
        "price": {"amount": decimal_text(price), "currency": "RUB"},
        "discount": {"amount": decimal_text(discount), "currency": "RUB"} if discount else None,
        "vat_rate": (rate := draw(st.sampled_from([None, "0", "10", "20"]))),
        "vat_included": rate is None or draw(st.booleans()),
    }


def _as_sandbox_returns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # crm.item.productrow.list answers typed numbers; rows come back with ids (docs/protocols/bitrix24.md
    # §2.2).
    return [{**row, "id": i + 100, "taxRate": row["taxRate"]} for i, row in enumerate(rows)]


@given(
    st.lists(lines(), max_size=6),
    st.one_of(st.none(), st.builds(lambda s, p: {"service": s, "price": p, "address": None}, names, money)),
)
def test_lines_and_delivery_survive_product_rows(order_lines: list[dict[str, Any]], delivery: Any) -> None:
    rows = rows_from_lines(order_lines, delivery)
    item = {"stageId": "C3:NEW", "currencyId": "RUB", "opportunity": 0}
    back = order_from_deal(item, _as_sandbox_returns(rows), PIPE)
    # A row's discount is per unit, in kopecks (docs/protocols/bitrix24.md §5.2): the line's sum reads
    # back as that, rounded; everything else exactly.
    assert back["lines"] == [{**line, "discount": _per_unit_discount(line)} for line in order_lines]
    assert back["delivery"] == delivery


def _per_unit_discount(line: dict[str, Any]) -> Any:
    if not line["discount"]:
        return None
    kopeck, quantity = Decimal("0.01"), Decimal(line["quantity"])
    per_unit = (Decimal(line["discount"]["amount"]) / quantity).quantize(kopeck, ROUND_HALF_UP)
    amount = (per_unit * quantity).quantize(kopeck, ROUND_HALF_UP)
    return {"amount": decimal_text(amount), "currency": "RUB"} if amount else None


def test_delivery_is_one_row_after_the_goods() -> None:
    line = {
        "offer": {"$ref": "offer", "id": "7"},
        "name": "Чайник",
        "quantity": "2",
        "vat_rate": "20",
        "price": {"amount": "1000", "currency": "RUB"},
        "discount": {"amount": "100", "currency": "RUB"},
    }
    rows = rows_from_lines([line], {"service": "Курьер", "price": {"amount": "300", "currency": "RUB"}})
    # The price is final per unit; the line's discount of 100 is 50 a unit.
    assert [(r["productId"], r["productName"], r["price"], r["discountSum"]) for r in rows] == [
        (7, "Чайник", 1000.0, 50.0),
        (0, "Доставка: Курьер", 300.0, 0.0),
    ]


def test_status_and_stage_map_both_ways_with_fallbacks() -> None:
    assert PIPE.stage("P") == "C3:EXECUTING"
    assert PIPE.stage("unknown") == "C3:NEW"  # never drop an order because its status is unmapped
    assert PIPE.status("C3:WON") == "F"
    assert PIPE.status("C3:LOSE") == "N"
    assert PipelineMap().stage("X") == "NEW"  # pipeline 0 has no prefix (docs/protocols/bitrix24.md §5.2)


def test_deal_add_is_stamped_with_the_origin() -> None:
    fields = deal_from_order(
        {"status": "N", "customer": {"$ref": "counterparty", "id": "CO4"}}, PIPE, "cid-1"
    )
    assert fields["originatorId"] == "obmen"
    assert fields["originId"] == "cid-1"
    assert fields["categoryId"] == 3
    assert fields["stageId"] == "C3:NEW"
    assert fields["companyId"] == 4
    assert fields["contactIds"] == []


def test_multifield_update_deletes_by_id_and_appends_new() -> None:
    current = {"PHONE": [{"ID": "11", "VALUE": "+7 (900) 000-00-01"}, {"ID": "12", "VALUE": "+79000000002"}]}
    out = party_fields("contact", {"phones": ["+79000000002", "+79000000003"]}, current, None)
    assert out["PHONE"] == [{"ID": "11", "DELETE": "Y"}, {"VALUE": "+79000000003", "VALUE_TYPE": "WORK"}]


def test_company_with_requisites_reads_as_organization() -> None:
    row = {"ID": "4", "TITLE": "ООО Ромашка", "PHONE": [{"ID": "1", "VALUE": "8 900 000 00 01"}], "EMAIL": []}
    fields = party_from_crm("company", row, {"RQ_INN": "7707083893", "RQ_KPP": "773601001"})
    assert fields["kind"] == "organization"
    assert fields["name"] == "ООО Ромашка"
    assert fields["phones"] == ["+79000000001"]
    assert fields["requisites"]["inn"] == "7707083893"
    assert split_party("CO4") == ("company", 4)
    assert split_party("C12") == ("contact", 12)
