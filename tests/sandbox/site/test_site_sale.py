"""Sale exchange against the site sandbox: query, success, echo suppression, documents from 1C."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lxml import etree
from site_driver import LOGIN, PASSWORD, OneC, small_catalog, text

from obmen_sandbox.site import SiteSandbox

OFFER = "bd8c4e15-18f9-11e7-80c2-0cc47ab29cd1"
ORDER = {
    "customer": {
        "name": "Иван Петров",
        "email": "ivan@example.ru",
        "phone": "+79990000000",
        "company": "ООО Ромашка",
    },
    "items": [{"offer": OFFER, "quantity": 2}],
    "delivery": {"service": "Доставка курьером", "price": 350},
    "payment": {"system": "Банковской картой онлайн", "paid": False},
}


def _reqs(doc: etree._Element) -> dict[str, str]:
    block = doc.find("ЗначенияРеквизитов")
    assert block is not None
    return {r.findtext("Наименование") or "": r.findtext("Значение") or "" for r in block}


async def _place(client: httpx.AsyncClient, order: dict[str, Any] = ORDER) -> dict[str, Any]:
    response = await client.post("/_sandbox/orders", json=order)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _query(onec: OneC) -> list[etree._Element]:
    response = await onec.call("sale", "query")
    assert response.headers["content-type"] == "application/xml; charset=windows-1251"
    assert response.content.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    root = etree.fromstring(response.content)
    assert root.tag == "КоммерческаяИнформация"
    assert root.get("ВерсияСхемы") == "2.05"
    return list(root.iter("Документ"))


@pytest.fixture
async def stocked(onec: OneC, client: httpx.AsyncClient) -> OneC:
    """A site with the UT 11 catalog loaded, and a 1C that did sale checkauth + init (new protocol)."""
    await onec.catalog_run(small_catalog(), use_zip=False)
    sale = OneC(client)
    lines = await sale.checkauth("sale")
    assert len(lines) == 4  # sale prints no timestamp (§1.2)
    assert await sale.init("sale", version="3.1") == [
        "zip=yes",
        "file_limit=4096",
        f"sessid={sale.sessid}",
        "version=2.09",
    ]
    return sale


async def test_query_answers_the_order_as_bitrix_does_in_windows_1251(
    stocked: OneC, client: httpx.AsyncClient
) -> None:
    placed = await _place(client)
    response = await stocked.call("sale", "query")
    assert "Иван Петров".encode("cp1251") in response.content  # the bytes really are windows-1251
    [doc] = await _query(stocked)
    assert (doc.findtext("Ид"), doc.findtext("Номер")) == (str(placed["id"]), placed["number"])
    assert doc.findtext("Сумма") == "550.0000"  # 2 × 100 + delivery 350
    party = doc.find("Контрагенты/Контрагент")
    assert party is not None
    assert party.findtext("Ид") == "1#ivan@example.ru#Иван Петров"
    assert party.findtext("ОфициальноеНаименование") == "ООО Ромашка"
    contacts = {c.findtext("Тип"): c.findtext("Значение") for c in party.iter("Контакт")}
    assert contacts == {"Почта": "ivan@example.ru", "ТелефонРабочий": "+79990000000"}
    goods = doc.findall("Товары/Товар")
    assert [g.findtext("Ид") for g in goods] == [OFFER, "ORDER_DELIVERY"]
    assert [g.findtext("ЦенаЗаЕдиницу") for g in goods] == ["100.0000", "350.0000"]
    reqs = _reqs(doc)
    assert reqs["Метод оплаты"] == "Банковской картой онлайн"
    assert reqs["Способ доставки"] == "Доставка курьером"
    assert (reqs["Заказ оплачен"], reqs["Отменен"], reqs["Статуса заказа ИД"]) == ("false", "false", "N")
    assert reqs["Статус заказа"] == "[N] Принят, ожидается оплата"


async def test_success_marks_exported_and_a_later_site_change_comes_back(
    stocked: OneC, client: httpx.AsyncClient
) -> None:
    placed = await _place(client)
    assert len(await _query(stocked)) == 1
    assert len(await _query(stocked)) == 1  # no success yet: the same order again
    assert text(await stocked.call("sale", "success")) == "success"
    assert await _query(stocked) == []
    order = (await client.get(f"/_sandbox/orders/{placed['id']}")).json()
    assert order["exported"] is True
    patched = await client.patch(f"/_sandbox/orders/{placed['id']}", json={"status": "P", "paid": True})
    assert patched.json()["exported"] is False
    [doc] = await _query(stocked)
    assert (_reqs(doc)["Статуса заказа ИД"], _reqs(doc)["Заказ оплачен"]) == ("P", "true")


def _documents(number: str, **requisites: str) -> bytes:
    reqs = "".join(
        f"<ЗначениеРеквизита><Наименование>{k}</Наименование><Значение>{v}</Значение></ЗначениеРеквизита>"
        for k, v in requisites.items()
    )
    return (
        '\ufeff<?xml version="1.0" encoding="UTF-8"?>\n<КоммерческаяИнформация ВерсияСхемы="2.07">'
        f"<Документ><Ид>96eb637f-e4a7-11e3-807b-00155d13641d</Ид><Номер>{number}</Номер>"
        "<Дата>2026-11-23</Дата><ХозОперация>Заказ товара</ХозОперация><Роль>Продавец</Роль>"
        "<Валюта>RUB</Валюта><Курс>1</Курс><Сумма>550.00</Сумма>"
        "<Контрагенты><Контрагент><Ид>c1</Ид><Наименование>Иван Петров</Наименование>"
        "</Контрагент></Контрагенты>"
        f"<Товары><Товар><Ид>{OFFER}</Ид><Наименование>Коврик</Наименование><ЦенаЗаЕдиницу>100</ЦенаЗаЕдиницу>"
        "<Количество>2</Количество><Сумма>200</Сумма></Товар></Товары>"
        f"<ЗначенияРеквизитов>{reqs}</ЗначенияРеквизитов></Документ></КоммерческаяИнформация>"
    ).encode()


async def _send_documents(onec: OneC, data: bytes) -> list[str]:
    name = "documents___0c7b4e4a.xml"
    assert set(await onec.upload("sale", name, data)) == {"success"}
    return await onec.run_import("sale", name)


async def test_documents_from_1c_update_the_order_which_is_not_exported_again(
    stocked: OneC, client: httpx.AsyncClient
) -> None:
    placed = await _place(client)
    await _query(stocked)
    await stocked.call("sale", "success")
    doc = _documents(
        placed["number"],
        **{
            "Номер по 1С": "ВК000001469",
            "Проведен": "true",
            "Номер оплаты по 1С": "ВК000000531  ",
            "Статуса заказа ИД": "P",
        },
    )
    replies = await _send_documents(stocked, doc)
    assert replies[0].startswith("progress\n")
    assert replies[-1] == "success\nЗагрузка документов завершена. Обновлено: 1, создано: 0, пропущено: 0."
    order = (await client.get(f"/_sandbox/orders/{placed['id']}")).json()
    assert (order["status"], order["payment"]["paid"], order["updated_by"]) == ("P", True, "1c")
    assert order["onec"]["number"] == "ВК000001469"
    assert order["onec"]["payment_number"] == "ВК000000531"
    assert await _query(stocked) == []  # UPDATED_1C: no echo back to 1C
    await client.patch(f"/_sandbox/orders/{placed['id']}", json={"comment": "позвонить"})
    [again] = await _query(stocked)
    assert again.findtext("Комментарий") == "позвонить"


async def test_unknown_order_is_skipped_unless_new_orders_are_imported(
    stocked: OneC, client: httpx.AsyncClient, sandbox: SiteSandbox
) -> None:
    replies = await _send_documents(stocked, _documents("4WD56", **{"Номер по 1С": "ВК1"}))
    assert replies[-1].endswith("Обновлено: 0, создано: 0, пропущено: 1.")
    assert (await client.get("/_sandbox/orders")).json() == []
    creating = SiteSandbox(LOGIN, PASSWORD, import_new_orders=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=creating.app), base_url="http://s"
    ) as other:
        onec = OneC(other)
        await onec.catalog_run(small_catalog(), use_zip=False)
        await onec.checkauth("sale")
        await onec.init("sale", version="2.08")
        replies = await _send_documents(onec, _documents("4WD56", **{"Номер по 1С": "ВК1"}))
        assert replies[-1].endswith("создано: 1, пропущено: 0.")
        [order] = (await other.get("/_sandbox/orders")).json()
        assert (order["number"], order["external"], order["items"][0]["quantity"]) == ("4WD56", True, "2")
        assert await _query(onec) == []  # born in 1C (EXTERNAL_ORDER): never exported


async def test_old_protocol_imports_documents_at_upload(onec: OneC, client: httpx.AsyncClient) -> None:
    await onec.catalog_run(small_catalog(), use_zip=False)
    placed = await _place(client)
    assert len(await onec.checkauth("sale")) == 4
    onec.sessid = None  # older 1C modules send neither sessid nor version
    assert await onec.init("sale") == ["zip=yes", "file_limit=4096"]
    replies = await onec.upload("sale", "orders.xml", _documents(placed["number"], **{"Отменен": "true"}))
    assert replies[-1].startswith("success\nЗагрузка документов завершена. Обновлено: 1")
    assert (await client.get(f"/_sandbox/orders/{placed['id']}")).json()["cancelled"] is True


async def test_info_lists_statuses_and_payment_systems(stocked: OneC) -> None:
    response = await stocked.call("sale", "info")
    root = etree.fromstring(response.content)
    assert [e.findtext("Ид") for e in root.findall("Cтатусы/Элемент")] == [
        "N",
        "P",
        "F",
    ]  # Latin C, as Bitrix
    assert "Банковской картой онлайн" in [e.findtext("Название") for e in root.iter("Элемент")]


async def test_control_api_refuses_unknown_offers_and_orders(
    stocked: OneC, client: httpx.AsyncClient
) -> None:
    bad = dict(ORDER, items=[{"offer": "no-such-offer", "quantity": 1}])
    response = await client.post("/_sandbox/orders", json=bad)
    assert response.status_code == 400
    assert "unknown offer 'no-such-offer'" in response.json()["error"]
    assert (await client.post("/_sandbox/orders", json=dict(ORDER, items=[]))).status_code == 400
    assert (await client.get("/_sandbox/orders/999")).status_code == 404
    assert (await client.patch("/_sandbox/orders/1", json={"status": "N"})).status_code == 404
    placed = await _place(client, dict(ORDER, items=[{"offer": OFFER, "quantity": 1, "price": 77.5}]))
    assert (await client.patch(f"/_sandbox/orders/{placed['id']}", json={"status": "Z"})).status_code == 400
    order = (await client.get(f"/_sandbox/orders/{placed['id']}")).json()
    assert order["items"][0]["price"] == "77.5"
    product = (await client.get("/_sandbox/products", params={"xml_id": OFFER})).json()
    assert product["offers"][0]["retail_price"] == "100"


async def test_query_may_come_as_a_post_form(stocked: OneC, client: httpx.AsyncClient) -> None:
    await _place(client)
    response = await client.post(
        "/bitrix/admin/1c_exchange.php",
        params={"type": "sale", "sessid": stocked.sessid or ""},
        content=b"mode=query",
        headers={"Cookie": stocked.cookie or "", "Content-Type": "application/x-www-form-urlencoded"},
        auth=(LOGIN, PASSWORD),
    )
    assert len(etree.fromstring(response.content).findall("Документ")) == 1


async def test_control_api_refuses_text_xml_cannot_carry(stocked: OneC, client: httpx.AsyncClient) -> None:
    bad = dict(ORDER, customer={"name": "Bell\x07", "email": "a@b.ru", "phone": "1"})
    response = await client.post("/_sandbox/orders", json=bad)
    assert response.status_code == 400
    assert "'name' holds characters XML cannot carry" in response.json()["error"]
    assert (await client.get("/_sandbox/orders")).json() == []
