"""An order's payments as 1C's incoming-payment documents over OData, against the 1C sandbox in process
(docs/protocols/onec.md §A1.9): one document a payment, posted while paid, unposted (never deleted) when
a payment is taken back, idempotent by derived keys, read back as the order's payments, and a payment
recorded in 1C found by the change feed as its order's change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from odata_rig import ROOT, Clock, control

from obmen.connectors.base import Change, Create, Update
from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.odata.connector import ODataConnector
from obmen.connectors.onec.odata.payments import BANK, CASH, payment_key
from obmen.model.payments import is_cash
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.onec.odata.filters import FilterError, compile_filter

KINDS = {"Банковская карта": "Эквайринг", "Оплата курьеру": "Наличные курьеру"}


@pytest.fixture
def sandbox() -> OnecSandbox:
    return OnecSandbox("http://obmen/exchange/1c", "1c", "secret")


def make(sandbox: OnecSandbox, *, extension: bool = False) -> ODataConnector:
    client = ODataClient(ROOT, "1c", "secret", transport=httpx.ASGITransport(app=sandbox.app))
    return ODataConnector(client, extension=extension, payment_kinds=KINDS, clock=Clock())


@pytest.fixture
async def onec(sandbox: OnecSandbox) -> AsyncIterator[ODataConnector]:
    connector = make(sandbox)
    yield connector
    await connector.client.aclose()


def pay(system: str, amount: str, paid: bool, at: str | None = None) -> dict[str, Any]:
    return {"system": system, "amount": {"amount": amount, "currency": "RUB"}, "paid": paid, "paid_at": at}


async def place(sandbox: OnecSandbox, onec: ODataConnector, payments: list[dict[str, Any]]) -> str:
    offer = next(o for o in sandbox.infobase.offers.values() if "#" not in o.id)
    party = {
        "kind": "person",
        "name": "Ирина",
        "phones": [],
        "emails": [],
        "requisites": None,
        "address": None,
    }
    [made] = await onec.write([Create("counterparty", "c1", party)])
    line = {
        "offer": {"$ref": "offer", "id": offer.id},
        "name": offer.name,
        "quantity": "1",
        "price": {"amount": "1000", "currency": "RUB"},
        "discount": None,
        "vat_rate": None,
        "vat_included": True,
    }
    order = {
        "number": "501",
        "date": "2026-03-01T10:00:00",
        "customer": {"$ref": "counterparty", "id": made.external_id},
        "lines": [line],
        "total": {"amount": "1000", "currency": "RUB"},
        "payments": payments,
    }
    [placed] = await onec.write([Create("order", "o501", order)])
    assert placed.ok, placed.error
    return str(placed.external_id)


def documents(sandbox: OnecSandbox) -> list[tuple[bool, str, bool, bool]]:
    """(cash, sum, posted, deleted) of every payment document, in the order they were made."""
    docs = sandbox.infobase.payment_documents.values()
    return [(d.cash, f"{d.amount.normalize():f}", d.posted, d.deleted) for d in docs]


async def read_payments(onec: ODataConnector, key: str) -> list[dict[str, Any]]:
    fields = (await onec.fetch("order", [key]))[key].fields
    return [{k: p[k] for k in ("system", "amount", "paid")} for p in fields["payments"]]


def test_cash_is_told_by_the_system_or_its_1c_kind() -> None:
    assert is_cash({"system": "Наличные"})
    assert is_cash({"system": "Оплата курьеру"}, KINDS)
    assert not is_cash({"system": "Оплата курьеру"})
    assert not is_cash({"system": "Банковская карта"}, KINDS)


async def test_two_payments_are_two_documents_and_read_back(
    sandbox: OnecSandbox, onec: ODataConnector
) -> None:
    wanted = [
        pay("Банковская карта", "600", True, "2026-03-01T10:05:00"),
        pay("Оплата курьеру", "400", False),
    ]
    key = await place(sandbox, onec, wanted)
    assert documents(sandbox) == [(False, "600", True, False), (True, "400", False, False)]
    refs = list(sandbox.infobase.payment_documents)
    assert refs == [payment_key(key, 0), payment_key(key, 1)]
    bank = sandbox.infobase.payment_documents[refs[0]]
    assert (bank.order, bank.comment) == (key, "Эквайринг")  # the 1C kind, as `Метод оплаты` says it
    assert await read_payments(onec, key) == [{k: p[k] for k in ("system", "amount", "paid")} for p in wanted]
    assert sandbox.infobase.orders[key].paid is False  # 600 of 1000 settled
    # The same payments again (a retry whose answer was lost): nothing new is made.
    [again] = await onec.write([Update("order", key, {"payments": wanted})])
    assert again.ok, again.error
    assert len(sandbox.infobase.payment_documents) == 2
    # Paid on delivery: the cash receipt is posted, and 1C's order is paid.
    paid = [wanted[0], pay("Оплата курьеру", "400", True)]
    [done] = await onec.write([Update("order", key, {"payments": paid})])
    assert done.ok, done.error
    assert documents(sandbox) == [(False, "600", True, False), (True, "400", True, False)]
    assert sandbox.infobase.orders[key].paid is True
    # A refund the engine agreed: that receipt is unposted, not deleted.
    [refund] = await onec.write(
        [Update("order", key, {"payments": [wanted[0], pay("Оплата курьеру", "400", False)]})]
    )
    assert refund.ok, refund.error
    assert documents(sandbox) == [(False, "600", True, False), (True, "400", False, False)]
    assert sandbox.infobase.orders[key].paid is False


async def test_an_unpaid_payment_follows_an_edit_and_one_no_longer_wanted_is_withdrawn(
    sandbox: OnecSandbox, onec: ODataConnector
) -> None:
    key = await place(sandbox, onec, [pay("Банковская карта", "600", True), pay("Наличные", "400", False)])
    [moved] = await onec.write(
        [
            Update(
                "order",
                key,
                {"payments": [pay("Банковская карта", "600", True), pay("Наличные", "300", False)]},
            )
        ]
    )
    assert moved.ok, moved.error
    assert documents(sandbox) == [(False, "600", True, False), (True, "300", False, False)]
    [one] = await onec.write([Update("order", key, {"payments": [pay("Банковская карта", "600", True)]})])
    assert one.ok, one.error
    assert documents(sandbox) == [(False, "600", True, False), (True, "300", False, True)]
    assert await read_payments(onec, key) == [
        {"system": "Банковская карта", "amount": {"amount": "600", "currency": "RUB"}, "paid": True}
    ]
    # Wanted again: the same document comes back, not a second one.
    [back] = await onec.write(
        [
            Update(
                "order",
                key,
                {"payments": [pay("Банковская карта", "600", True), pay("Наличные", "300", True)]},
            )
        ]
    )
    assert back.ok, back.error
    assert documents(sandbox) == [(False, "600", True, False), (True, "300", True, False)]


@pytest.mark.parametrize("extension", [False, True])
async def test_a_payment_recorded_in_1c_is_its_orders_change(sandbox: OnecSandbox, extension: bool) -> None:
    onec = make(sandbox, extension=extension)
    key = await place(sandbox, onec, [pay("Банковская карта", "1000", False)])
    clock = onec.feed._clock
    assert isinstance(clock, Clock)
    cursor = (await onec.changes(None, 1000)).cursor
    while True:  # drain what is registered already (the extension starts with everything)
        clock.now += 10
        page = await onec.changes(cursor, 1000)
        cursor = page.cursor
        if not page.changes:
            break
    number = sandbox.infobase.orders[key].number
    row = await control(sandbox, "POST", "/odata/payments", {"order": number})
    assert (row["set"], row["Posted"], row["Ref_Key"]) == (BANK, True, payment_key(key, 0))
    assert sandbox.infobase.orders[key].paid is True
    clock.now += 10
    page = await onec.changes(cursor, 1000)
    assert Change("order", key) in page.changes
    assert await read_payments(onec, key) == [
        {"system": "Банковская карта", "amount": {"amount": "1000", "currency": "RUB"}, "paid": True}
    ]
    # A second payment entered in 1C itself (cash, nothing obmen made) is read as the order's too.
    await control(sandbox, "POST", "/odata/payments", {"order": number, "amount": "50", "cash": True})
    payments = await read_payments(onec, key)
    assert payments[1] == {"system": "Наличные", "amount": {"amount": "50", "currency": "RUB"}, "paid": True}
    rows = await control(sandbox, "GET", "/odata/payments")
    assert [r["set"] for r in rows] == [BANK, CASH]
    await onec.client.aclose()


def test_the_sandbox_filters_a_tabular_part_with_any() -> None:
    predicate = compile_filter(
        "РасшифровкаПлатежа/any(d: d/Заказ eq guid'00000000-0000-0000-0000-00000000000a')",
        frozenset({"Ref_Key", "РасшифровкаПлатежа"}),
        {"РасшифровкаПлатежа": frozenset({"Заказ", "Сумма"})},
    )
    assert predicate({"РасшифровкаПлатежа": [{"Заказ": "00000000-0000-0000-0000-00000000000a"}]})
    assert not predicate({"РасшифровкаПлатежа": []})
    with pytest.raises(FilterError):
        compile_filter("Товары/any(d: d/Нет eq 1)", frozenset({"Товары"}), {"Товары": frozenset({"Цена"})})


async def test_a_payment_paid_after_its_document_was_made_is_dated_when_it_was_paid(
    sandbox: OnecSandbox, onec: ODataConnector
) -> None:
    """The order reached 1C unpaid, so its receipt was dated with the order; paid later on the site, the
    receipt is redated to that moment as it is posted. Posted with the order's date, 1C would show another
    payment moment than the site and the CRM, and the engine would write it back to them on every merge."""
    key = await place(sandbox, onec, [pay("Оплата курьеру", "1000", False)])
    [ref] = sandbox.infobase.payment_documents
    assert sandbox.infobase.payment_documents[ref].date.startswith("2026-03-01T10:00")
    paid = [pay("Оплата курьеру", "1000", True, "2026-03-02T18:30:15+03:00")]
    [done] = await onec.write([Update("order", key, {"payments": paid})])
    assert done.ok, done.error
    fields = (await onec.fetch("order", [key]))[key].fields
    assert [(p["paid"], p["paid_at"]) for p in fields["payments"]] == [(True, "2026-03-02T18:30:15")]
    # Posted already, the receipt keeps its date: 1C's own record of when the money came.
    later = [pay("Оплата курьеру", "1000", True, "2026-03-05T09:00:00")]
    [again] = await onec.write([Update("order", key, {"payments": later})])
    assert again.ok, again.error
    assert sandbox.infobase.payment_documents[ref].date == "2026-03-02T18:30:15"
