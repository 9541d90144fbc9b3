"""VAT on top through OData: УТ 11's one `ЦенаВключаетНДС` per order, each line's `СуммаНДС` (issue 12)."""

from __future__ import annotations

from typing import Any

import pytest

from obmen.connectors.onec.odata.mapping import order_body, order_fields
from obmen.errors import ProtocolError


def _line(rate: str | None, included: bool, price: str = "99.99", quantity: str = "3") -> dict[str, Any]:
    return {
        "offer": {"$ref": "offer", "id": "0178c4e5-512a-5a00-b047-974fdb315480"},
        "name": "Чайник",
        "quantity": quantity,
        "price": {"amount": price, "currency": "RUB"},
        "discount": None,
        "vat_rate": rate,
        "vat_included": included,
    }


def test_vat_on_top_goes_as_net_prices_with_each_lines_vat_and_reads_back() -> None:
    body = order_body({"lines": [_line("20", False), _line(None, True, "10", "1")]}, {})
    assert body["ЦенаВключаетНДС"] is False
    assert [row["СуммаНДС"] for row in body["Товары"]] == [59.99, 0.0]  # 299.97 × 20 % = 59.994
    row = {"ЦенаВключаетНДС": False, "СуммаДокумента": 369.96, "Товары": [
        {**r, "LineNumber": n} for n, r in enumerate(body["Товары"], start=1)
    ]}  # fmt: skip
    lines = order_fields(row, {}, {})["lines"]
    assert [(line["vat_rate"], line["vat_included"]) for line in lines] == [("20", False), (None, True)]
    assert order_body({"lines": [_line("20", True)]}, {})["ЦенаВключаетНДС"] is True


def test_an_order_with_vat_both_included_and_on_top_is_refused_clearly() -> None:
    with pytest.raises(ProtocolError, match="ЦенаВключаетНДС"):
        order_body({"lines": [_line("20", False), _line("10", True)]}, {})
