"""Field policy as data (docs/architecture.md §2.3): who may write a field and how conflicts resolve.

A rule is one of
* `owner:<system>`: the owner's value wins; a change made elsewhere is put back to the owner's value
  (1C is the master of prices: a price typed into the CRM is reverted);
* `newest`: the most recently modified side wins (ties broken by the system precedence);
* `conflict`: differing changes are recorded for a person and nobody's value is forced;
* `fact` or `fact:N<P<F`: a fact that only moves forward (paid, cancelled, a status in its order,
  docs/architecture.md §2.11): a side showing less than was agreed has not seen it yet and does not vote,
  unless it had shown the agreed level itself and went back (a refund, an undone cancellation).

Rules are looked up as `entity.field`, then `entity.*`, then the policy default. Operators override
them in config with the same strings (`field_policy = {"order.comment" = "conflict"}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from obmen.errors import ConfigError

__all__ = ["DEFAULT_MATCH_ON", "DEFAULT_RULES", "FieldRule", "Policy", "Strategy"]


class Strategy(StrEnum):
    """How a field's concurrent changes resolve."""

    OWNER = "owner"
    NEWEST = "newest"
    CONFLICT = "conflict"
    FACT = "fact"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """The rule for one field."""

    strategy: Strategy
    owner: str | None = None
    #: `fact` over text values: the values in the order a fact advances through (`N<P<F`).
    order: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, *, where: str = "field_policy") -> FieldRule:
        """Parse `owner:<system>`, `newest`, `conflict`, `fact` or `fact:<a><<b>…`."""
        head, _, arg = text.partition(":")
        try:
            strategy = Strategy(head.strip())
        except ValueError:
            raise ConfigError(
                f"{where} = {text!r}: expected 'owner:<system>', 'newest', 'conflict', 'fact' or 'fact:N<P<F'"
            ) from None
        if strategy is Strategy.OWNER and not arg.strip():
            raise ConfigError(f"{where} = {text!r}: 'owner' needs a system, e.g. 'owner:onec'")
        if strategy is Strategy.FACT:
            order = tuple(step.strip() for step in arg.split("<")) if arg.strip() else ()
            if any(not step for step in order) or len(set(order)) != len(order):
                raise ConfigError(f"{where} = {text!r}: a fact's order is distinct values, e.g. 'fact:N<P<F'")
            return cls(strategy, order=order)
        if strategy is not Strategy.OWNER and arg:
            raise ConfigError(f"{where} = {text!r}: only 'owner' takes a system")
        return cls(strategy, arg.strip() or None)

    def level(self, value: Any) -> int | None:
        """How far a fact has advanced: its place in `order`; a flag 0 or 1; a list of payments the
        number paid (paid in full is every one of them); None when the value is not in the order."""
        if self.order:
            return self.order.index(value) if isinstance(value, str) and value in self.order else None
        if value is None:
            return 0
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, list):
            return sum(1 for item in value if isinstance(item, Mapping) and item.get("paid") is True)
        return None

    def __str__(self) -> str:
        if self.strategy is Strategy.OWNER:
            return f"owner:{self.owner}"
        if self.order:
            return f"fact:{'<'.join(self.order)}"
        return self.strategy.value


#: 1C is the master of the catalog, prices and stock; the CRM owns who is responsible for a deal; an
#: order's payments, cancellation and status are facts (docs/architecture.md §2.11). Everything else
#: follows the newest change (docs/architecture.md §2.3, §4).
DEFAULT_RULES: Mapping[str, str] = {
    "category.*": "owner:onec",
    "product.*": "owner:onec",
    "offer.*": "owner:onec",
    "price_type.*": "owner:onec",
    "warehouse.*": "owner:onec",
    "order.responsible": "owner:bitrix24",
    "order.payments": "fact",
    "order.cancelled": "fact",
    "order.status": "fact:N<A<P<D<F",
    "user.*": "owner:bitrix24",
}

#: Fields whose normalised values identify an object across systems before it is linked (§2.4).
DEFAULT_MATCH_ON: Mapping[str, tuple[str, ...]] = {
    "category": ("xml_id",),
    "product": ("xml_id", "article", "barcode"),
    "offer": ("xml_id", "article", "barcode"),
    "counterparty": ("inn_kpp", "phones", "emails"),
    "order": ("number",),
    "lead": ("phones", "emails"),
    "user": ("email",),
}


_PRECEDENCE = ("onec", "bitrix24", "site")


@dataclass(frozen=True, slots=True)
class Policy:
    """The whole policy: rules, the default, matching fields and system precedence."""

    rules: Mapping[str, FieldRule] = field(default_factory=dict)
    default: FieldRule = FieldRule(Strategy.NEWEST)
    match_on: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_MATCH_ON))
    #: Tie-break order for `newest` when timestamps are equal or unknown: earlier wins.
    precedence: tuple[str, ...] = _PRECEDENCE

    @classmethod
    def build(
        cls,
        overrides: Mapping[str, str] | None = None,
        *,
        base: Mapping[str, str] = DEFAULT_RULES,
        default: str = "newest",
        match_on: Mapping[str, tuple[str, ...]] | None = None,
        precedence: tuple[str, ...] | None = None,
    ) -> Policy:
        """Build a policy from rule strings: the defaults, then the operator's overrides."""
        merged = {**base, **(overrides or {})}
        rules = {key: FieldRule.parse(text, where=f"field_policy.{key}") for key, text in merged.items()}
        return cls(
            rules=rules,
            default=FieldRule.parse(default, where="field_policy default"),
            match_on=dict(match_on if match_on is not None else DEFAULT_MATCH_ON),
            precedence=precedence or _PRECEDENCE,
        )

    def rule(self, entity: str, name: str) -> FieldRule:
        """The rule for `entity.name`."""
        return self.rules.get(f"{entity}.{name}") or self.rules.get(f"{entity}.*") or self.default

    def rank(self, system: str) -> int:
        """Position of `system` in the precedence order (unknown systems come last)."""
        try:
            return self.precedence.index(system)
        except ValueError:
            return len(self.precedence)
