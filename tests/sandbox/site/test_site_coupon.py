"""A coupon for the whole order, spread over the basket as the sale module does (`site/coupon.py`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obmen_sandbox.site.coupon import CouponError, spread
from obmen_sandbox.site.orders import Item

prices = st.decimals(min_value="1.00", max_value="50000", places=2)
quantities = st.integers(1, 5).map(Decimal)


@given(st.lists(st.tuples(prices, quantities), min_size=1, max_size=4), st.integers(1, 99))
def test_a_coupon_lowers_the_lines_and_the_basket_still_sums_from_them(
    lines: list[tuple[Decimal, Decimal]], percent: int
) -> None:
    items = [Item(f"o{n}", "x", q, p) for n, (p, q) in enumerate(lines)]
    whole = sum((i.total for i in items), Decimal(0))
    discount = (whole * percent / 100).quantize(Decimal("0.01"))
    if discount <= 0:
        return
    after = spread(items, discount)
    # Every line still sums to its price × quantity, the discount is per unit and to the kopeck, and
    # what was taken is the coupon within the rounding of the last line's units.
    taken = sum((i.discount * i.quantity for i in after), Decimal(0))
    assert all(i.price >= 0 and i.discount == i.discount.quantize(Decimal("0.01")) for i in after)
    assert sum((i.total for i in after), Decimal(0)) == whole - taken
    assert abs(taken - discount) <= after[-1].quantity * Decimal("0.005") + Decimal("0.01") * len(after)


def test_a_coupon_of_the_whole_basket_or_none_is_refused() -> None:
    items = [Item("o", "x", Decimal(1), Decimal(100))]
    for discount in (Decimal(0), Decimal(100)):
        with pytest.raises(CouponError):
            spread(items, discount)
