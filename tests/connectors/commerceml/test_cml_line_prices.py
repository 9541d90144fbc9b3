"""An order line's unit price, however 1C writes it (docs/protocols/commerceml.md §2.7)."""

from __future__ import annotations

import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from obmen.connectors.commerceml import read
from obmen.connectors.commerceml.items import Document


def _answer(line: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<КоммерческаяИнформация ВерсияСхемы="2.09" ДатаФормирования="2026-11-30T10:00:00">
  <Документ>
    <Ид>d1</Ид><Номер>132</Номер><Дата>2026-11-30</Дата><ХозОперация>Заказ товара</ХозОперация>
    <Роль>Продавец</Роль><Валюта>RUB</Валюта><Курс>1</Курс><Сумма>1000</Сумма>
    <Товары><Товар><Ид>p1</Ид><Наименование>Чайник</Наименование>{line}</Товар></Товары>
  </Документ>
</КоммерческаяИнформация>""".encode()


def _price(line: str) -> Decimal:
    docs = [i for i in read(io.BytesIO(_answer(line)), name="orders.xml") if isinstance(i, Document)]
    return docs[0].lines[0].price


def test_price_per_unit_wins() -> None:
    line = "<ЦенаЗаЕдиницу>250</ЦенаЗаЕдиницу><Цена>999</Цена><Количество>2</Количество><Сумма>500</Сумма>"
    assert _price(line) == Decimal(250)


def test_ut11_lines_without_a_price_per_unit_keep_their_price() -> None:
    # УТ 11 (2.09) writes `Цена` and `Сумма`: before, this line read as price 0 and zeroed the CRM's rows.
    assert _price("<Цена>250.50</Цена><Количество>2</Количество><Сумма>501</Сумма>") == Decimal("250.50")


@given(
    kopecks=st.integers(1, 10**9),
    quantity=st.integers(1, 1000),
)
def test_only_a_sum_gives_the_price_to_the_kopeck(kopecks: int, quantity: int) -> None:
    total = Decimal(kopecks) / 100
    price = _price(f"<Количество>{quantity}</Количество><Сумма>{total}</Сумма>")
    assert price.as_tuple().exponent >= -2  # a price in kopecks
    assert abs(price * quantity - total) <= Decimal("0.005") * quantity  # the nearest one
