"""What 1C's own order documents do not carry (site, delivery service) is not lost.

See §2.7 (docs/protocols/commerceml.md).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from obmen.connectors.commerceml.items import Document
from obmen.connectors.commerceml.mapping import order_fields
from obmen.connectors.commerceml.outbound import order_document
from obmen.model.base import Money
from obmen.model.entities import Delivery, Order
from obmen.model.fields import to_fields


def test_a_1c_document_without_a_site_does_not_clear_the_site() -> None:
    onec = Document(id="1", number="7", date="2026-11-23", requisites=(("Номер по 1С", "ОБ-000007"),))
    assert "site" not in order_fields(onec)


def test_a_bitrix_document_names_its_site() -> None:
    site = Document(id="1", number="7", date="2026-11-23", requisites=(("Сайт", "[s1] Интернет-магазин"),))
    assert order_fields(site)["site"] == "s1"


def test_the_delivery_service_survives_1c_sending_the_order_back_without_its_requisite() -> None:
    order = Order(
        number="7",
        date=datetime(2026, 11, 23, 9, 30),
        status="N",
        delivery=Delivery(service="Курьер", price=Money(Decimal(300), "RUB")),
    )
    sent = order_document("1", to_fields(order), customer_id=None, to="onec")
    assert sent.requisite("Способ доставки") == "Курьер"
    # 1C's own document carries the line it was given and none of the site's requisites (§2.7).
    back = replace(sent, requisites=(("Номер по 1С", "ОБ-000007"),))
    assert order_fields(back)["delivery"]["service"] == "Курьер"
