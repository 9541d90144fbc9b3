"""The order composite's pure mapping: what the invoice is written as must read back as the same order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen.config.mapping import MappingSettings, PipelineMap
from obmen.connectors.bitrix24.crm.fields import order_from_deal, rows_from_lines
from obmen.connectors.bitrix24.crm.orders import (
    InvoiceStages,
    OrderMapping,
    invoice_item,
    invoice_state,
    order_parts,
)
from obmen.errors import PermanentError
from obmen.model.fields import decimal_text

MAPPING = OrderMapping(invoice=InvoiceStages(category_id=7, unpaid="N", paid="P", cancelled="D"))

systems = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="|"), max_size=20
)
amounts = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False).map(decimal_text)
moments = st.one_of(st.none(), st.datetimes().map(lambda d: d.replace(microsecond=0).isoformat()))


def _as_portal_returns(body: dict[str, Any], semantic: str | None = None) -> dict[str, Any]:
    # The portal answers `opportunity` as a number and adds the stage's semantics (docs/protocols/bitrix24.md
    # §5.3).
    return {**body, "id": 5, "opportunity": float(body.get("opportunity", 0)), "stageSemanticId": semantic}


@given(systems, amounts, st.booleans(), moments)
def test_one_payment_survives_the_invoice(system: str, amount: str, paid: bool, paid_at: str | None) -> None:
    payment = {
        "system": system,
        "amount": {"amount": amount, "currency": "RUB"},
        "paid": paid,
        "paid_at": paid_at,
    }
    order = {"number": "A-1", "payments": [payment], "cancelled": False}
    body = invoice_item(order, MAPPING, deal=9, client=None, state=(paid, False), new=True)
    assert body["stageId"] == f"DT31_7:{'P' if paid else 'N'}"
    assert (body["parentId2"], body["accountNumber"]) == (9, "A-1")
    read = order_parts({"stageSemanticId": "P"}, _as_portal_returns(body), MAPPING, "RUB")
    expected = [payment] if system or paid_at or paid else []  # an unpaid payment of no system is none
    assert (read["number"], read["payments"], read["cancelled"]) == ("A-1", expected, False)


@given(st.lists(st.tuples(systems, amounts, st.booleans(), moments), min_size=1, max_size=3))
def test_a_cancelled_invoice_keeps_its_payments(rows: list[tuple[str, str, bool, str | None]]) -> None:
    """The cancelled stage says nothing of payment: what was paid stays paid (docs/architecture.md §2.11)."""
    payments = [
        # One payment keeps its being paid as its payment time (`system|paid_at`).
        {"system": s, "amount": {"amount": a, "currency": "RUB"}, "paid": p, "paid_at": t if p else None}
        for s, a, p, t in rows
    ]
    if len(payments) == 1 and payments[0]["paid"] and payments[0]["paid_at"] is None:
        payments[0]["paid_at"] = "2026-01-02T03:04:05"
    paid = all(p["paid"] for p in payments)
    order = {"number": "A-2", "payments": payments, "cancelled": True}
    body = invoice_item(order, MAPPING, deal=9, client=None, state=(paid, True), new=True)
    assert body["stageId"] == "DT31_7:D"
    read = order_parts({"stageSemanticId": "P"}, _as_portal_returns(body, "F"), MAPPING, "RUB")
    one = payments[0]
    expected = [] if len(payments) == 1 and not (one["system"] or one["paid"]) else payments
    assert (read["payments"], read["cancelled"]) == (expected, True)


def test_stage_semantics_decide_paid_and_cancelled() -> None:
    assert invoice_state({"stageId": "DT31_7:P"}, MAPPING) == (True, False)
    # Another success stage the portal defines (`S` semantics, docs/protocols/bitrix24.md §5.3) is paid too.
    assert invoice_state({"stageId": "DT31_7:UC_X", "stageSemanticId": "S"}, MAPPING) == (True, False)
    assert invoice_state({"stageId": "DT31_7:D", "stageSemanticId": "F"}, MAPPING) == (False, True)
    assert invoice_state(None, MAPPING) == (False, False)
    # Cancelling wins over paying: the invoice has one stage.
    assert MAPPING.invoice.of(True, True) == "DT31_7:D"
    # A lost deal cancels its order whatever its invoice says.
    assert order_parts({"stageSemanticId": "F"}, None, MAPPING, "RUB") == {"site": None, "cancelled": True}


def test_pipelines_from_the_config_tables() -> None:
    settings = MappingSettings.model_validate(
        {
            "pipelines": {"opt": {"category_id": 2, "status_to_stage": {"N": "NEW", "F": "WON"}}},
            "sites": {"s2": "opt"},
            "invoice": {"category_id": 4, "paid": "P"},
            "delivery": {"Курьер": "dlv-1"},
        }
    )
    mapping = OrderMapping.from_settings(settings)
    assert (mapping.for_site("s2").category_id, mapping.for_site("s1").category_id) == (2, 0)
    assert mapping.for_site("s2").stage("F") == "C2:WON"
    assert mapping.for_category(2).status("C2:WON") == "F"
    # A pipeline no table names reads through the default tables, in its own category.
    assert (mapping.for_category(9).category_id, mapping.for_category(9).status("C9:WON")) == (9, "F")
    assert (mapping.invoice.category_id, mapping.delivery) == (4, {"Курьер": "dlv-1"})


def test_delivery_row_with_its_catalog_product_reads_back_as_delivery() -> None:
    pipe = PipelineMap()
    delivery = {"service": "Курьер", "price": {"amount": "400", "currency": "RUB"}, "address": None}
    rows = rows_from_lines([], delivery, delivery_product=77)
    assert (rows[0]["productId"], rows[0]["productName"]) == (77, "Доставка: Курьер")
    item = {"stageId": "NEW", "currencyId": "RUB", "opportunity": 400}
    assert order_from_deal(item, rows, pipe, {"Курьер"})["delivery"] == delivery
    # A product row of an unmapped service is a line like any other.
    assert order_from_deal(item, rows, pipe)["delivery"] is None


def test_an_invoice_in_an_unknown_pipeline_starts_at_the_portals_default() -> None:
    unknown = OrderMapping()  # invoice category 0: the portal's default pipeline, not asked for yet
    body = invoice_item({"number": "7"}, unknown, deal=3, client=None, state=(False, False), new=True)
    assert "categoryId" not in body
    assert "stageId" not in body
    with pytest.raises(PermanentError, match="pipeline"):
        invoice_item({}, unknown, deal=3, client=None, state=(True, False), new=True)


payments = st.lists(st.tuples(systems, amounts, st.booleans(), moments), min_size=2, max_size=4)


@given(payments)
def test_several_payments_survive_the_invoice_and_paid_means_paid_in_full(given: list[Any]) -> None:
    listed = [
        {"system": s, "amount": {"amount": a, "currency": "RUB"}, "paid": p, "paid_at": at}
        for s, a, p, at in given
    ]
    order = {"number": "A-2", "payments": listed, "cancelled": False}
    paid = all(p["paid"] for p in listed)
    body = invoice_item(order, MAPPING, deal=9, client=None, state=(paid, False), new=True)
    assert body["stageId"] == f"DT31_7:{'P' if paid else 'N'}"  # paid only when every payment is
    assert body["opportunity"] == float(sum(Decimal(a) for _, a, _, _ in given))
    part = decimal_text(sum((Decimal(a) for _, a, p, _ in given if p), Decimal(0)))
    assert body["comments"].startswith(f"Оплачено {part} из ")  # the paid part, for a manager to read
    read = order_parts({"stageSemanticId": "P"}, _as_portal_returns(body), MAPPING, "RUB")
    assert read["payments"] == listed
    # A manager moves the invoice to paid: every payment is paid; back from paid in full: none is.
    moved = order_parts({}, _as_portal_returns({**body, "stageId": "DT31_7:P"}), MAPPING, "RUB")
    assert all(p["paid"] for p in moved["payments"])
    assert [p["amount"] for p in moved["payments"]] == [p["amount"] for p in listed]
    if paid:
        back = order_parts({}, _as_portal_returns({**body, "stageId": "DT31_7:N"}), MAPPING, "RUB")
        assert not any(p["paid"] or p["paid_at"] for p in back["payments"])
