"""A public 1C OData client (PyPI `python-1c-odata`, aiohttp) drives the 1C sandbox over a real socket.

The client was written against real 1C publications; what it sends and expects (URL shape, `$format`,
Basic, `$metadata`, paging, `$inlinecount`, virtual tables, creates, posting, `If-Match`) must work
against the sandbox unchanged (docs/protocols/onec.md §A1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from python_1c_odata import (
    AccumulationRegister,
    Catalog,
    ConcurrencyError,
    Document,
    Infobase,
    InformationRegister,
    ODataError,
    PostingMode,
)

from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import serve_in_thread


@dataclass
class Served:
    sandbox: OnecSandbox
    infobase: Infobase
    server: str


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    sandbox = OnecSandbox("http://127.0.0.1:9/exchange/1c", "1c", "secret", odata_password="odata-pw")
    with serve_in_thread(sandbox.app) as server:
        async with Infobase(server, "trade", "1c", "odata-pw") as infobase:
            yield Served(sandbox, infobase, server)


async def test_metadata_and_the_catalog_read_as_the_client_expects(served: Served) -> None:
    ib = served.infobase
    sets = await ib.entity_sets()
    assert {
        "Catalog_Номенклатура",
        "Document_ЗаказКлиента",
        "InformationRegister_ЦеныНоменклатуры25",
        "Document_ПоступлениеБезналичныхДенежныхСредств",
        "Document_ПриходныйКассовыйОрдер",
    } <= set(sets)
    order_type = await ib.entity_type_for_set("Document_ЗаказКлиента")
    assert order_type.keys == ("Ref_Key",)
    assert {"Number", "Date", "Posted", "Товары"} <= {p.name for p in order_type.properties}

    goods = Catalog(ib, "Номенклатура")
    products = list(served.sandbox.infobase.products)
    rows = [
        row async for row in goods.iterate(page_size=4, odata_filter="IsFolder eq false", orderby="Ref_Key")
    ]
    assert sorted(r["Ref_Key"] for r in rows) == sorted(products)
    assert await goods.count(odata_filter="IsFolder eq false") == len(products)
    one = await goods.get(products[0])
    assert one["Description"] == served.sandbox.infobase.products[products[0]].name


async def test_virtual_tables_of_prices_and_stock(served: Served) -> None:
    ib = served.infobase
    offer = next(o for o in served.sandbox.infobase.offers.values() if "#" not in o.id)
    condition = f"Номенклатура_Key eq guid'{offer.id}'"
    prices = await InformationRegister(ib, "ЦеныНоменклатуры25").slice_last(condition=condition)
    assert sorted(float(r["Цена"]) for r in prices["value"]) == sorted(
        float(v) for v in offer.prices.values()
    )
    stock = await AccumulationRegister(ib, "ТоварыНаСкладах").balance(condition=condition)
    assert sum(float(r["ВНаличииBalance"]) for r in stock["value"]) == float(offer.total())


async def test_an_order_is_created_posted_and_its_goods_replaced_whole(served: Served) -> None:
    ib = served.infobase
    base = served.sandbox.infobase
    party = await Catalog(ib, "Контрагенты").create({"Description": "ООО «Ромашка»", "ИНН": "7701234567"})
    offer = next(o for o in base.offers.values() if "#" not in o.id)
    row = {"Номенклатура_Key": offer.id, "Количество": 2, "Цена": 100, "Сумма": 200}
    orders = Document(ib, "ЗаказКлиента")
    made = await orders.create(
        {"Date": "2026-03-01T10:00:00", "Контрагент_Key": party["Ref_Key"], "Товары": [row, row]},
        posting_mode=PostingMode.POST,
    )
    stored = next(o for o in base.orders.values() if o.onec_id == made["Ref_Key"])
    assert stored.posted
    assert len(stored.lines) == 2
    # Posting wrote the document: the version the create answered is stale now.
    with pytest.raises(ConcurrencyError):
        await orders.edit(made["Ref_Key"], {"Комментарий": "x"}, if_match=made["DataVersion"])
    current = await orders.get(made["Ref_Key"])
    assert current["Posted"] is True
    edited = await orders.edit(made["Ref_Key"], {"Товары": [row]}, if_match=current["DataVersion"])
    assert len(edited["Товары"]) == 1


async def test_a_payment_document_settles_its_order_while_posted(served: Served) -> None:
    ib = served.infobase
    base = served.sandbox.infobase
    party = await Catalog(ib, "Контрагенты").create({"Description": "ИП Петров"})
    offer = next(o for o in base.offers.values() if "#" not in o.id)
    row = {"Номенклатура_Key": offer.id, "Количество": 1, "Цена": 300, "Сумма": 300}
    order = await Document(ib, "ЗаказКлиента").create(
        {"Date": "2026-03-01T10:00:00", "Контрагент_Key": party["Ref_Key"], "Товары": [row]},
        posting_mode=PostingMode.POST,
    )
    receipts = Document(ib, "ПоступлениеБезналичныхДенежныхСредств")
    settlement = {
        "Заказ": order["Ref_Key"],
        "Заказ_Type": "StandardODATA.Document_ЗаказКлиента",
        "Сумма": 300,
    }
    made = await receipts.create(
        {"Date": "2026-03-02T09:00:00", "СуммаДокумента": 300, "РасшифровкаПлатежа": [settlement]},
        posting_mode=PostingMode.POST,
    )
    stored = next(o for o in base.orders.values() if o.onec_id == order["Ref_Key"])
    assert stored.paid
    found = await receipts.query(
        odata_filter=f"РасшифровкаПлатежа/any(d: d/Заказ eq guid'{order['Ref_Key']}')"
    )
    assert [r["Ref_Key"] for r in found["value"]] == [made["Ref_Key"]]
    await receipts.unpost(made["Ref_Key"])
    assert not stored.paid


async def test_a_wrong_password_is_refused(served: Served) -> None:
    async with Infobase(served.server, "trade", "1c", "wrong") as ib:
        with pytest.raises(ODataError) as caught:
            await Catalog(ib, "Номенклатура").query(top=1)
    assert caught.value.status == 401
