"""The sandbox 1C's sale runs: query → store orders → success → documents of orders 1C changed (§1.7)."""

from __future__ import annotations

from lxml import etree
from onec_recording_site import FIXTURES, Site, assert_every_call_authenticated, control, sandbox_for

BITRIX_ANSWER = (FIXTURES / "bitrix-site-orders-2.05" / "query-response-full.xml").read_bytes()
EMPTY_ANSWER = (FIXTURES / "bitrix-site-orders-2.05" / "query-response-empty.xml").read_bytes()

ANSWER_210 = """<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация xmlns="urn:1C.ru:commerceml_2" ВерсияСхемы="2.10"
  ДатаФормирования="2026-01-10T10:00:00">
  <Контейнер>
    <Документ><Ид>501</Ид><Номер>501</Номер><Дата>2026-01-10</Дата><ХозОперация>Заказ товара</ХозОперация>
      <Роль>Продавец</Роль><Валюта>RUB</Валюта><Курс>1</Курс><Сумма>1500.00</Сумма>
      <Контрагенты><Контрагент><Ид>7#petrov#Петров</Ид><Наименование>Петров Пётр</Наименование>
        <Роль>Покупатель</Роль></Контрагент></Контрагенты><Время>14:25:07</Время>
      <Товары><Товар><Ид>abc#def</Ид><Наименование>Плед</Наименование><ЦенаЗаЕдиницу>1500.00</ЦенаЗаЕдиницу>
        <Количество>1</Количество><Сумма>1500.00</Сумма></Товар></Товары>
    </Документ>
    <Документ><Ид>501-p</Ид><Номер>501/1</Номер><Дата>2026-01-10</Дата>
      <ХозОперация>Выплата безналичных денег</ХозОперация><Сумма>1500.00</Сумма></Документ>
  </Контейнер>
</КоммерческаяИнформация>""".encode()


def documents(site: Site) -> list[etree._Element]:
    (name,) = [call.params["filename"] for call in site.calls if call.mode == "file"][-1:]
    root = etree.fromstring(bytes(site.files[name]), etree.XMLParser(resolve_entities=False, no_network=True))
    return [item for item in root if item.tag == "Документ"]


def requisites(document: etree._Element) -> dict[str, str]:
    return {
        item.findtext("Наименование") or "": (item.findtext("Значение") or "")
        for item in document.iterfind("ЗначенияРеквизитов/ЗначениеРеквизита")
    }


async def test_sale_run_stores_the_orders_acknowledges_and_sends_back_1c_numbers() -> None:
    site = Site(query_answer=BITRIX_ANSWER)
    sandbox = sandbox_for(site)
    async with control(sandbox) as api:
        response = await api.post("/_sandbox/exchange/sale")
        orders = (await api.get("/_sandbox/orders")).json()
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["received"], summary["created"], summary["updated"]) == (2, 2, 0)
    name = summary["uploaded"]["filename"]
    assert [(call.method, call.mode, call.params.get("filename")) for call in site.calls] == [
        ("GET", "checkauth", None),
        ("GET", "init", None),
        ("GET", "query", None),
        ("GET", "success", None),
        ("POST", "file", name),
        ("GET", "import", name),
    ]
    assert name.startswith("documents___")
    assert all(call.kind == "sale" for call in site.calls)
    assert_every_call_authenticated(site)
    first = next(order for order in orders if order["id"] == "132")
    assert first["number"] == "132"
    assert first["total"] == "231.7400"
    assert first["lines"][0]["offer"] == "910e89e5-205e-4d95-872a-0a0255c42f02"
    sent = documents(site)
    assert sorted(doc.findtext("Номер") for doc in sent) == sorted(order["number"] for order in orders)
    for doc in sent:
        order = next(item for item in orders if item["number"] == doc.findtext("Номер"))
        assert doc.findtext("Ид") == order["onec_id"]
        assert requisites(doc)["Номер по 1С"] == order["onec_number"]


async def test_orders_seen_again_are_matched_and_only_1c_changes_are_uploaded() -> None:
    site = Site(query_answer=BITRIX_ANSWER)
    sandbox = sandbox_for(site)
    async with control(sandbox) as api:
        await api.post("/_sandbox/exchange/sale")
        again = (await api.post("/_sandbox/exchange/sale")).json()
        assert (again["created"], again["updated"], again["uploaded"]) == (0, 2, None)
        assert len(sandbox.infobase.orders) == 2
        patched = await api.patch(
            "/_sandbox/orders/132", json={"posted": True, "paid": True, "shipped": True}
        )
        assert patched.status_code == 200, patched.text
        site.query_answer = EMPTY_ANSWER
        site.calls.clear()
        third = (await api.post("/_sandbox/exchange/sale")).json()
    assert third["uploaded"]["orders"] == ["132"]
    (doc,) = documents(site)
    values = requisites(doc)
    assert values["Проведен"] == "true"
    assert values["Номер оплаты по 1С"] == patched.json()["payment_number"] != ""
    assert values["Номер отгрузки по 1С"] == patched.json()["shipment_number"] != ""


async def test_a_210_answer_with_containers_marks_the_order_paid_by_its_payment_document() -> None:
    site = Site(query_answer=ANSWER_210, query_type="application/xml; charset=utf-8")
    sandbox = sandbox_for(site)
    result = await sandbox.run_sale()
    assert result["ok"] is True, result
    (order,) = sandbox.infobase.orders.values()
    assert (order.site_id, order.paid, order.counterparty) == ("501", True, "7#petrov#Петров")
    assert sandbox.infobase.counterparties["7#petrov#Петров"].name == "Петров Пётр"
    # The time of day is kept, and goes back with the order (an order is not placed at midnight).
    assert order.time == "14:25:07"
    [sent] = documents(site)
    assert (sent.findtext("Дата"), sent.findtext("Время")) == ("2026-01-10", "14:25:07")


async def test_a_site_without_the_new_sale_protocol_imports_on_file() -> None:
    site = Site(query_answer=BITRIX_ANSWER, sale_version=False)
    result = await sandbox_for(site).run_sale()
    assert result["ok"] is True
    assert site.modes()[-1] == "file"  # §1.7 "old version": no separate import
    assert result["uploaded"]["import_calls"] == 0


async def test_a_broken_query_answer_is_a_clear_error_and_stores_nothing() -> None:
    site = Site(query_answer=b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>')
    sandbox = sandbox_for(site)
    result = await sandbox.run_sale()
    assert result["ok"] is False
    assert result["error"]["mode"] == "query"
    assert "DOCTYPE" in result["error"]["reason"]
    assert sandbox.infobase.orders == {}
    assert "success" not in site.modes()  # never acknowledge what was not stored (§1.7 step 4)


async def test_a_failure_instead_of_xml_is_surfaced() -> None:
    site = Site(fail={"query": "Ошибка проверки источника запроса."})
    result = await sandbox_for(site).run_sale()
    assert result["error"] == {"mode": "query", "reason": "Ошибка проверки источника запроса."}


async def test_a_failed_upload_is_retried_on_the_next_run() -> None:
    site = Site(query_answer=BITRIX_ANSWER, fail={"import": "Заказ №132 не может быть изменен"})
    sandbox = sandbox_for(site)
    failed = await sandbox.run_sale()
    assert failed["ok"] is False
    assert failed["error"]["reason"] == "Заказ №132 не может быть изменен"
    site.fail.clear()
    site.query_answer = EMPTY_ANSWER
    retried = await sandbox.run_sale()
    assert retried["uploaded"]["orders"] == sorted(sandbox.infobase.orders)


async def test_control_api_refuses_bad_edits_clearly() -> None:
    sandbox = sandbox_for(Site())
    key = next(p.id for p in sandbox.infobase.products.values() if len(sandbox.infobase.offers_of(p.id)) > 1)
    async with control(sandbox) as api:
        cases = [
            (await api.patch("/_sandbox/products/nope", json={"name": "x"}), 404),
            (await api.patch(f"/_sandbox/products/{key}", json={"prices": {"Розничная": 1}}), 400),
            (await api.patch(f"/_sandbox/products/{key}", json={"colour": "red"}), 400),
            (await api.patch(f"/_sandbox/products/{key}", json={"name": "bad\x01name"}), 400),
            (await api.patch(f"/_sandbox/products/{key}", content=b"{not json"), 400),
            (await api.patch("/_sandbox/orders/404", json={"paid": True}), 404),
            (await api.post("/_sandbox/exchange/catalog", json={"changes_only": "yes"}), 400),
        ]
        offer = sandbox.infobase.offers_of(key)[0].id.replace("#", "%23")
        cases.append((await api.patch(f"/_sandbox/products/{offer}", json={"prices": {"Нет такой": 1}}), 400))
        cases.append(
            (await api.patch(f"/_sandbox/products/{offer}", json={"stock": {"Основной склад": -1}}), 400)
        )
    assert [(response.status_code, "error" in response.json()) for response, _ in cases] == [
        (status, True) for _, status in cases
    ]
    assert "has characteristics" in cases[1][0].json()["error"]


async def test_reset_restores_the_infobase_and_forgets_runs() -> None:
    site = Site()
    sandbox = sandbox_for(site)
    async with control(sandbox) as api:
        await api.post("/_sandbox/exchange/catalog", json={})
        key = next(iter(sandbox.infobase.products))
        await api.patch(f"/_sandbox/products/{key}", json={"name": "Другое имя"})
        reset = await api.post("/_sandbox/reset")
        products = (await api.get("/_sandbox/products")).json()
    assert reset.json()["counts"]["products"] == 12
    assert next(p for p in products if p["id"] == key)["name"] != "Другое имя"
    result = await sandbox.run_catalog(changes_only=True)
    assert result["products"] == 12  # no successful run since the reset: everything is a change


async def test_a_status_set_in_1c_survives_the_site_sending_the_order_again() -> None:
    site = Site(query_answer=BITRIX_ANSWER)
    sandbox = sandbox_for(site)
    await sandbox.run_sale()
    async with control(sandbox) as api:
        assert (await api.patch("/_sandbox/orders/132", json={"status": "F"})).status_code == 200
    site.fail["success"] = "сбой"  # the run stops before uploading, the change stays pending
    await sandbox.run_sale()
    assert sandbox.infobase.orders["132"].status == "F"
    site.fail.clear()
    result = await sandbox.run_sale()
    assert result["uploaded"]["orders"] == ["132"]
    (doc,) = documents(site)
    assert requisites(doc)["Статуса заказа ИД"] == "F"


async def test_uploaded_documents_follow_the_published_schema() -> None:
    """1C writes order files without a namespace (erp-2.07 orders.xml); in the schema's they validate."""
    site = Site(query_answer=BITRIX_ANSWER)
    sandbox = sandbox_for(site)
    await sandbox.run_sale()
    async with control(sandbox) as api:
        await api.patch("/_sandbox/orders/132", json={"paid": True, "shipped": True, "posted": True})
    site.query_answer = EMPTY_ANSWER
    await sandbox.run_sale()
    (doc,) = documents(site)
    root = doc.getparent()
    for element in root.iter():
        if isinstance(element.tag, str):
            element.tag = "{urn:1C.ru:commerceml_2}" + element.tag
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(FIXTURES / "xsd" / "CML209.xsd"), parser))
    assert schema.validate(root), str(schema.error_log)[:500]


async def test_delivery_line_goes_back_as_a_service() -> None:
    site = Site(query_answer=EMPTY_ANSWER)
    sandbox = sandbox_for(site, FIXTURES / "official-samples-2.03")
    result = await sandbox.run_sale()
    assert result["ok"] is True, result
    doc = next(doc for doc in documents(site) if doc.findtext("Номер") == "36")
    (line,) = [item for item in doc.iterfind("Товары/Товар") if item.findtext("Ид") == "ORDER_DELIVERY"]
    assert requisites(line)["ТипНоменклатуры"] == "Услуга"
    assert line.findtext("ЦенаЗаЕдиницу") == "340.00"
