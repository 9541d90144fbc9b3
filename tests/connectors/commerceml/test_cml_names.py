"""1C's names of order statuses and payment kinds, translated both ways (`[mapping] onec_statuses`)."""

from __future__ import annotations

import pytest

from obmen.config.mapping import MappingSettings
from obmen.connectors.commerceml.items import Document
from obmen.connectors.commerceml.names import Vocabulary

TABLE = Vocabulary(
    statuses={"Согласован": "A", "К отгрузке": "P", "[F] Выполнен": "F"},
    payments={"Картой онлайн": "Эквайринг", "Наличными курьеру": "Наличные"},
)


def _doc(*requisites: tuple[str, str]) -> Document:
    return Document(id="d1", number="132", date="2026-11-30", requisites=requisites)


def test_1c_names_read_as_the_sites_codes() -> None:
    got = TABLE.incoming(_doc(("Статус заказа", "к  отгрузке"), ("Метод оплаты", "эквайринг")))
    assert got.requisite("Статус заказа") == "P"  # case and spacing do not matter
    assert got.requisite("Метод оплаты") == "Картой онлайн"
    assert TABLE.incoming(_doc(("Статус заказа", "[D] Отгружен"))).requisite("Статус заказа") == "D"
    assert TABLE.incoming(_doc(("Статус заказа", "F"))).requisite("Статус заказа") == "F"


def test_an_unmapped_status_is_unknown_not_a_fallback() -> None:
    got = TABLE.incoming(_doc(("Статус заказа", "Собирается на складе"), ("Проведен", "true")))
    assert got.requisite("Статус заказа") is None
    assert got.requisite("Проведен") == "true"
    # The site's own id, where 1C sends it, is what counts.
    both = _doc(("Статус заказа", "Собирается"), ("Статуса заказа ИД", "N"))
    assert TABLE.incoming(both).requisites == both.requisites


def test_obmens_documents_speak_1cs_names() -> None:
    out = TABLE.outgoing(
        _doc(("Статус заказа", "P"), ("Статуса заказа ИД", "P"), ("Метод оплаты", "Картой онлайн"))
    )
    assert out.requisite("Статус заказа") == "К отгрузке"
    assert out.requisite("Статуса заказа ИД") == "P"
    assert out.requisite("Метод оплаты") == "Эквайринг"
    assert TABLE.outgoing(_doc(("Метод оплаты", "Бонусами"))).requisite("Метод оплаты") == "Бонусами"


def test_without_a_table_1c_speaks_the_sites_codes() -> None:
    bare = Vocabulary()
    assert bare.incoming(_doc(("Статус заказа", "F"))).requisite("Статус заказа") == "F"
    assert bare.incoming(_doc(("Статус заказа", "[N] Принят"))).requisite("Статус заказа") == "N"


def test_the_default_table_reads_every_stock_status_back_and_forth() -> None:
    m = MappingSettings()
    vocabulary = Vocabulary(statuses=m.onec_statuses)
    for code in set(m.onec_statuses.values()):
        assert vocabulary.status_code(vocabulary.status_name(code)) == code


def test_order_properties_travel_under_each_partners_name() -> None:
    from obmen.connectors.commerceml.mapping import order_fields

    onec = Vocabulary(properties={"Примечание для курьера": "COURIER", "ИНН": "INN"})
    document = _doc(("примечание  для курьера", " Домофон 12 "), ("Проведен", "true"), ("Склад", "Основной"))
    got = onec.incoming(document)
    assert got.requisites == (("property:COURIER", "Домофон 12"), ("Проведен", "true"), ("Склад", "Основной"))
    fields = order_fields(got)
    # What the document names is read; what it does not name (the INN) is not known to be empty.
    assert fields["property:COURIER"] == "Домофон 12"
    assert "property:INN" not in fields
    out = onec.outgoing(_doc(("property:COURIER", "Код 34"), ("property:OTHER", "x"), ("Отменен", "false")))
    assert out.requisites == (("Примечание для курьера", "Код 34"), ("Отменен", "false"))


def test_the_short_form_of_an_order_property_is_its_deal_field() -> None:
    mapping = MappingSettings(
        order_properties={"INN": "UF_CRM_INN", "COURIER": {"deal": "UF_CRM_5_1617", "onec": "Примечание"}}
    )
    table = mapping.properties()
    assert (table["INN"].deal, table["INN"].onec, table["INN"].site) == ("UF_CRM_INN", "", "")
    assert (table["COURIER"].deal, table["COURIER"].onec) == ("UF_CRM_5_1617", "Примечание")


def test_1cs_responsible_is_the_orders_manager_and_an_unmapped_name_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from obmen.connectors.commerceml.mapping import order_fields

    onec = Vocabulary(managers=("Петров Пётр", "Иванов Иван"))
    got = onec.incoming(_doc(("Ответственный", "петров  пётр")))
    assert order_fields(got)["manager"] == "Петров Пётр"
    with caplog.at_level("WARNING"):
        for _ in range(3):
            unknown = onec.incoming(_doc(("Ответственный", "Сидоров"), ("Проведен", "true")))
            assert "manager" not in order_fields(unknown)  # unknown: the manager stays as it is
    assert sum("Сидоров" in r.getMessage() for r in caplog.records) == 1
    out = onec.outgoing(_doc(("manager", "Иванов Иван")))
    assert out.requisites == (("Ответственный", "Иванов Иван"),)
    # Without a managers table no responsible is sent or read.
    assert Vocabulary().outgoing(_doc(("manager", "Иванов Иван"))).requisites == ()
