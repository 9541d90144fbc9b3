"""Inventory documents: conducting moves `catalog.storeproduct` and `quantity`; cancelling reverts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from catalog_fixtures import Api, ApiError, add_product, open_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with open_api() as client:
        client.store_control(True)
        yield client


async def add_store(api: Api, title: str) -> int:
    table = api.portal.table("catalog.store")
    new_id = table.add({"title": title, "active": "Y"})
    table.rows[new_id]["id"] = new_id
    return new_id


async def document(api: Api, doc_type: str, *rows: dict[str, Any]) -> int:
    added = await api(
        "catalog.document.add", fields={"docType": doc_type, "currency": "RUB", "responsibleId": 1}
    )
    doc_id: int = added.result["document"]["id"]
    for row in rows:
        await api("catalog.document.element.add", fields={"docId": doc_id, **row})
    return doc_id


async def stock(api: Api, product_id: int) -> dict[int, float]:
    answer = await api("catalog.storeproduct.list", filter={"productId": product_id})
    return {row["storeId"]: row["amount"] for row in answer.result["storeProducts"]}


async def quantity(api: Api, product_id: int) -> Any:
    return (await api("catalog.product.get", id=product_id)).result["product"]["quantity"]


async def test_new_document_is_a_draft(api: Api) -> None:
    added = await api(
        "catalog.document.add",
        fields={"docType": "A", "currency": "RUB", "responsibleId": 1, "title": "Приход"},
    )
    doc = added.result["document"]
    assert (doc["status"], doc["docType"], doc["siteId"], doc["total"]) == ("N", "A", "s1", None)
    listed = await api("catalog.document.list", filter={"status": "N"}, select=["id", "title"])
    assert listed.result == {"documents": [{"id": doc["id"], "title": "Приход"}]}
    with pytest.raises(ApiError) as error:
        await api("catalog.document.add", fields={"docType": "X", "currency": "RUB", "responsibleId": 1})
    assert error.value.description == "DOC_TYPE isn't available"


async def test_receipt_then_write_off_then_cancel(api: Api) -> None:
    product = await add_product(api, "x")
    receipt = await document(
        api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 10, "purchasingPrice": 5}
    )
    assert (await api("catalog.document.conduct", id=receipt)).result is True
    assert await stock(api, product["id"]) == {1: 10}
    assert await quantity(api, product["id"]) == 10
    header = (await api("catalog.document.list", filter={"id": receipt})).result["documents"][0]
    assert (header["status"], header["total"]) == ("Y", 50)
    write_off = await document(api, "D", {"elementId": product["id"], "storeFrom": 1, "amount": 4})
    await api("catalog.document.conduct", id=write_off)
    assert await stock(api, product["id"]) == {1: 6}
    assert await quantity(api, product["id"]) == 6
    await api("catalog.document.cancel", id=write_off)
    assert await stock(api, product["id"]) == {1: 10}
    status = (await api("catalog.document.list", filter={"id": write_off})).result["documents"][0]["status"]
    assert status == "C"
    updates = [i for e, i, _ in api.events if e == "CATALOG.PRODUCT.ON.UPDATE"]
    assert updates == [product["id"]] * 3


async def test_move_between_warehouses_keeps_the_total(api: Api) -> None:
    product = await add_product(api, "x")
    second = await add_store(api, "Второй склад")
    await api(
        "catalog.document.conduct",
        id=await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 8}),
    )
    move = await document(
        api, "M", {"elementId": product["id"], "storeFrom": 1, "storeTo": second, "amount": 3}
    )
    await api("catalog.document.conduct", id=move)
    assert await stock(api, product["id"]) == {1: 5, second: 3}
    assert await quantity(api, product["id"]) == 8


async def test_stock_never_goes_negative(api: Api) -> None:
    product = await add_product(api, "x")
    receipt = await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 2})
    await api("catalog.document.conduct", id=receipt)
    too_much = await document(api, "D", {"elementId": product["id"], "storeFrom": 1, "amount": 3})
    with pytest.raises(ApiError) as error:
        await api("catalog.document.conduct", id=too_much)
    assert error.value.description.startswith("Document conducting error")
    write_off = await document(api, "D", {"elementId": product["id"], "storeFrom": 1, "amount": 2})
    await api("catalog.document.conduct", id=write_off)
    with pytest.raises(ApiError) as cancel:
        await api("catalog.document.cancel", id=receipt)
    assert cancel.value.description.startswith("Error cancelling document conduct")
    assert await stock(api, product["id"]) == {1: 0}


async def test_conducted_documents_are_frozen(api: Api) -> None:
    product = await add_product(api, "x")
    doc_id = await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 1})
    await api("catalog.document.conduct", id=doc_id)
    with pytest.raises(ApiError) as error:
        await api(
            "catalog.document.element.add", fields={"docId": doc_id, "elementId": product["id"], "amount": 1}
        )
    assert error.value.code == "ERROR_DOCUMENT_STATUS"
    element = (await api("catalog.document.element.list", filter={"docId": doc_id})).result[
        "documentElements"
    ][0]
    with pytest.raises(ApiError) as update:
        await api("catalog.document.element.update", id=element["id"], fields={"amount": 5})
    assert update.value.code == "ERROR_DOCUMENT_STATUS"
    for name in ("catalog.document.delete", "catalog.document.conduct"):
        with pytest.raises(ApiError):
            await api(name, id=doc_id)
    await api("catalog.document.cancel", id=doc_id)
    await api("catalog.document.element.update", id=element["id"], fields={"amount": 5})
    await api("catalog.document.conduct", id=doc_id)
    assert await stock(api, product["id"]) == {1: 5}


async def test_rules_for_conducting(api: Api) -> None:
    product = await add_product(api, "x")
    empty = await document(api, "A")
    with pytest.raises(ApiError):
        await api("catalog.document.conduct", id=empty)
    no_store = await document(api, "A", {"elementId": product["id"], "amount": 1})
    with pytest.raises(ApiError):
        await api("catalog.document.conduct", id=no_store)
    with pytest.raises(ApiError) as cancel:
        await api("catalog.document.cancel", id=no_store)
    assert "has not been conducted yet" in cancel.value.description
    with pytest.raises(ApiError) as missing:
        await api("catalog.document.conduct", id=999)
    assert missing.value.description == "Document not found"
    api.store_control(False)
    ready = await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 1})
    with pytest.raises(ApiError) as off:
        await api("catalog.document.conduct", id=ready)
    assert "must be enabled" in off.value.description


async def test_parents_have_no_stock_of_their_own(api: Api) -> None:
    from obmen_sandbox.bitrix24.catalog import PRODUCT_IBLOCK

    parent = await api("catalog.product.sku.add", fields={"iblockId": PRODUCT_IBLOCK, "name": "parent"})
    doc_id = await document(api, "A")
    with pytest.raises(ApiError):
        await api(
            "catalog.document.element.add", fields={"docId": doc_id, "elementId": parent.result["sku"]["id"]}
        )
    with pytest.raises(ApiError) as store:
        await api("catalog.document.element.add", fields={"docId": doc_id, "elementId": 1, "storeTo": 99})
    assert store.value.code in ("0", "ERROR_DOCUMENT_RIGHTS")


operation = st.tuples(st.sampled_from(["A", "D"]), st.integers(min_value=1, max_value=5), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(operation, min_size=1, max_size=8))
async def test_stock_is_the_sum_of_conducted_documents(plan: list[tuple[str, int, bool]]) -> None:
    async with open_api() as api:
        api.store_control(True)
        product = await add_product(api, "x")
        conducted: dict[int, int] = {}
        for doc_type, amount, cancel_after in plan:
            store = "storeTo" if doc_type == "A" else "storeFrom"
            doc_id = await document(api, doc_type, {"elementId": product["id"], store: 1, "amount": amount})
            signed = amount if doc_type == "A" else -amount
            try:
                await api("catalog.document.conduct", id=doc_id)
                conducted[doc_id] = signed
            except ApiError:
                assert sum(conducted.values()) + signed < 0
            if cancel_after and doc_id in conducted:
                try:
                    await api("catalog.document.cancel", id=doc_id)
                    del conducted[doc_id]
                except ApiError:
                    assert sum(conducted.values()) - signed < 0
            expected = sum(conducted.values())
            assert (await stock(api, product["id"])).get(1, 0) == expected
            assert await quantity(api, product["id"]) == expected


async def test_list_variants_stop_at_the_first_failure(api: Api) -> None:
    product = await add_product(api, "x")
    good = await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 4})
    bad = await document(api, "D", {"elementId": product["id"], "storeFrom": 1, "amount": 100})
    later = await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 1})
    with pytest.raises(ApiError):
        await api("catalog.document.conductList", documentIds=[good, bad, later])
    statuses = {d["id"]: d["status"] for d in (await api("catalog.document.list")).result["documents"]}
    assert (statuses[good], statuses[bad], statuses[later]) == ("Y", "N", "N")
    assert await stock(api, product["id"]) == {1: 4}
    assert (await api("catalog.document.cancelList", documentIds=[good])).result is True
    assert (await api("catalog.document.deleteList", documentIds=[good, bad, later])).result is True
    assert (await api("catalog.document.list")).total == 0
    with pytest.raises(ApiError) as error:
        await api("catalog.document.conductList")
    assert error.value.code == "100"


async def test_a_product_deleted_after_it_was_listed_stops_the_conduct(api: Api) -> None:
    product = await add_product(api, "x")
    doc_id = await document(api, "A", {"elementId": product["id"], "storeTo": 1, "amount": 2})
    await api("catalog.product.delete", id=product["id"])
    with pytest.raises(ApiError) as error:
        await api("catalog.document.conduct", id=doc_id)
    assert "does not exist" in error.value.description
    assert (await api("catalog.storeproduct.list")).total == 0
