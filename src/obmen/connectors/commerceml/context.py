"""What one exchange run remembers between its files: the classifier (docs/protocols/commerceml.md).

See §1.5, §2.2.

1C may send the classifier in its own file and the catalog after it with only `ИдКлассификатора`
(carono/yii2-1c-exchange #12); price types and warehouses come with the offers. The caller keeps one
`RunContext` for the files of a run and hands it to every `read`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from obmen.connectors.commerceml.items import Group, PriceType, Property, Warehouse

__all__ = ["Classifier", "Known", "KnownMany", "RunContext"]


@dataclass
class Classifier:
    """Groups, properties (with their value dictionaries), price types and warehouses seen so far."""

    id: str | None = None
    groups: dict[str, Group] = field(default_factory=dict)
    properties: dict[str, Property] = field(default_factory=dict)
    price_types: dict[str, PriceType] = field(default_factory=dict)
    warehouses: dict[str, Warehouse] = field(default_factory=dict)
    #: Changes with every property and price type read: what a product's or offer's mapping depends on
    #: beyond its own element, so a raw digest (`read(..., known=…)`) includes it.
    revision: str = ""
    _values: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def _revise(self, item: Property | PriceType) -> None:
        self.revision = hashlib.blake2b(f"{self.revision}{item!r}".encode(), digest_size=16).hexdigest()

    def add_property(self, prop: Property) -> None:
        """Remember a property; a later file may add values to its dictionary."""
        self.properties[prop.id] = prop
        self._values.setdefault(prop.id, {}).update((v.id, v.value) for v in prop.values)
        self._revise(prop)

    def add_price_type(self, price_type: PriceType) -> None:
        """Remember a price type (its currency is the default of its prices)."""
        self.price_types[price_type.id] = price_type
        self._revise(price_type)

    def property_value(self, property_id: str, raw: str) -> tuple[str, str]:
        """(property name, value text) of a raw product value; a `Справочник` value is an `ИдЗначения`."""
        prop = self.properties.get(property_id)
        if prop is None:
            return property_id, raw
        return prop.name, self._values.get(property_id, {}).get(raw, raw)


#: `known(kind, id, digest)`: whether the caller already holds this exact product or offer.
Known = Callable[[str, str, str], bool]
#: `known_many([(kind, id, digest), …])`: the (kind, id) of those the caller already holds exactly.
KnownMany = Callable[[Sequence[tuple[str, str, str]]], Collection[tuple[str, str]]]


@dataclass
class RunContext:
    """State carried across the files of one exchange run."""

    classifier: Classifier = field(default_factory=Classifier)
    #: Names of the files read so far, in order.
    files: list[str] = field(default_factory=list)
