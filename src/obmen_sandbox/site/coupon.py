"""A discount on the whole order (a coupon), spread over its lines as the sale module applies one.

Bitrix keeps an order's discount in its basket: each line's price drops by its share, per unit and to the
kopeck, so the order still sums from its lines (docs/protocols/site-rest.md §3.5, `discountPrice`).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from obmen_sandbox.site.orders import Item

__all__ = ["CouponError", "spread"]

_KOPECK = Decimal("0.01")


class CouponError(ValueError):
    """A discount the basket cannot take."""


def spread(items: list[Item], discount: Decimal) -> list[Item]:
    """The lines with `discount` taken from them in proportion to their sums; the last line takes what
    the others' rounding left, as far as its quantity divides it."""
    whole = sum((i.price * i.quantity for i in items), Decimal(0))
    if discount <= 0 or discount >= whole:
        raise CouponError("'discount' must be above zero and below the basket's sum")
    out: list[Item] = []
    taken = Decimal(0)
    for n, item in enumerate(items):
        share = discount - taken if n == len(items) - 1 else discount * item.price * item.quantity / whole
        unit = min((share / item.quantity).quantize(_KOPECK), item.price)
        taken += unit * item.quantity
        out.append(dataclasses.replace(item, price=item.price - unit, discount=item.discount + unit))
    return out
