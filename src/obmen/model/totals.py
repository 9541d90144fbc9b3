"""What an order line adds up to, to the kopeck, with VAT included in its price or charged on top.

The one rounding every codec of obmen uses (docs/architecture.md §4): a line's VAT on top is its net sum
times the rate, rounded half up to the kopeck once per line, as a Bitrix site's basket rounds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = ["KOPECK", "gross_unit", "included", "line_amount", "line_fields_amount", "net_unit", "vat_on_top"]

KOPECK = Decimal("0.01")
_HUNDRED = Decimal(100)


def included(rate: Decimal | None, flag: bool | None) -> bool:
    """Whether a line's VAT is in its price: a line with no rate has none to add (the flag is moot)."""
    return rate is None or flag is None or bool(flag)


def vat_on_top(price: Decimal, quantity: Decimal, rate: Decimal | None) -> Decimal:
    """The VAT charged on top of a line of `quantity` at the net unit `price`."""
    if not rate:
        return Decimal(0)
    return (price * quantity * rate / _HUNDRED).quantize(KOPECK, ROUND_HALF_UP)


def line_amount(price: Decimal, quantity: Decimal, rate: Decimal | None, vat_included: bool) -> Decimal:
    """What the buyer pays for a line: price × quantity, and its VAT when that is on top."""
    net = price * quantity
    return net if included(rate, vat_included) else net + vat_on_top(price, quantity, rate)


def gross_unit(price: Decimal, rate: Decimal | None) -> Decimal:
    """A net unit price with its VAT, to the kopeck (a CRM row's `price` includes the tax)."""
    return (price * (1 + (rate or 0) / _HUNDRED)).quantize(KOPECK, ROUND_HALF_UP)


def net_unit(gross: Decimal, rate: Decimal | None) -> Decimal:
    """The net unit price `gross_unit` came from: exact, since a kopeck of net is at least one of gross."""
    return (gross / (1 + (rate or 0) / _HUNDRED)).quantize(KOPECK, ROUND_HALF_UP)


def line_fields_amount(line: Any) -> Decimal | None:
    """`line_amount` of a line in canonical field form; None when it is not a line of money."""
    if not isinstance(line, Mapping) or not isinstance(line.get("price"), Mapping):
        return None
    try:
        price, quantity = Decimal(str(line["price"].get("amount"))), Decimal(str(line.get("quantity")))
        rate = Decimal(str(line["vat_rate"])) if line.get("vat_rate") not in (None, "") else None
    except InvalidOperation:
        return None
    if not (price.is_finite() and quantity.is_finite()):
        return None
    return line_amount(price, quantity, rate, line.get("vat_included") is not False)
