"""Identifiers, money, references: the value types every canonical entity is built from."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import NewType

__all__ = ["CanonicalId", "EntityType", "ExternalId", "Money", "Ref", "SystemName"]

#: obmen's own id of an object (a uuid4 hex), the same in every system it is linked to.
CanonicalId = NewType("CanonicalId", str)
#: An object's id inside one system (a Bitrix24 ID, a 1C `Ид`, a site order number).
ExternalId = NewType("ExternalId", str)
#: `onec`, `site`, `bitrix24`.
SystemName = NewType("SystemName", str)


class EntityType(StrEnum):
    """Kinds of objects obmen keeps in agreement (prices and stock are fields of offers)."""

    CATEGORY = "category"
    PRODUCT = "product"
    OFFER = "offer"
    PRICE_TYPE = "price_type"
    WAREHOUSE = "warehouse"
    COUNTERPARTY = "counterparty"
    ORDER = "order"
    INVOICE = "invoice"
    USER = "user"
    LEAD = "lead"


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference to another object (canonical id inside obmen, external id inside a connector)."""

    entity: EntityType
    id: str


#: Minor units per currency (ISO 4217); anything else is kept to two places.
_PLACES = {"RUB": 2, "USD": 2, "EUR": 2, "KZT": 2, "BYN": 2, "JPY": 0}


#: Currency → its minor unit as a quantum (`Decimal("0.01")`), for the currencies seen so far: a catalog
#: makes a Money per price, and the check and the quantum are the same each time.
_STEPS: dict[str, Decimal] = {}


def _step(currency: str) -> Decimal:
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise ValueError(f"currency must be an ISO 4217 code such as 'RUB', not {currency!r}")
    step = Decimal(1).scaleb(-_PLACES.get(currency, 2))
    if len(_STEPS) < 256:  # codes are three letters; the cap keeps odd input from growing it
        _STEPS[currency] = step
    return step


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency, quantised to the currency's minor unit."""

    amount: Decimal
    currency: str = "RUB"

    def __post_init__(self) -> None:
        step = _STEPS.get(self.currency)
        if step is None:
            step = _step(self.currency)
        amount = self.amount if type(self.amount) is Decimal else Decimal(self.amount)
        object.__setattr__(self, "amount", amount.quantize(step, rounding=ROUND_HALF_UP))

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: Decimal) -> Money:
        """This amount multiplied by a quantity."""
        return Money(self.amount * quantity, self.currency)
