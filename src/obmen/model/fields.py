"""The bridge to the sync engine: canonical entities ⇄ flat, JSON-safe field maps.

The engine merges field maps (docs/architecture.md §2.2), so equal values must encode to equal JSON: Decimals
become canonical strings without exponent (`"10.5"`), money `{"amount", "currency"}`, dates ISO-8601,
references `{"$ref": entity, "id": id}` (the form `obmen.engine.refs` translates), tuples lists. The
conversion is driven by the dataclasses' own type hints, so a new field needs no code here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from obmen.model import entities
from obmen.model.base import EntityType, Money, Ref

__all__ = [
    "ENTITY_CLASSES",
    "FieldValue",
    "canonical_json",
    "canonical_loads",
    "decimal_text",
    "fingerprint",
    "fingerprint_of",
    "from_fields",
    "to_fields",
]

FieldValue = str | int | bool | None | list[Any] | dict[str, Any]

ENTITY_CLASSES: Mapping[EntityType, type[Any]] = {
    cls.ENTITY: cls
    for cls in (
        entities.Category,
        entities.PriceType,
        entities.Warehouse,
        entities.Product,
        entities.Offer,
        entities.Counterparty,
        entities.Order,
        entities.Invoice,
        entities.User,
        entities.Lead,
    )
}


def decimal_text(value: Decimal) -> str:
    """The canonical text of a Decimal: no exponent, no trailing zeros (`10.50` → `"10.5"`)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _encode(value: Any) -> FieldValue:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, Money):
        return {"amount": decimal_text(value.amount), "currency": value.currency}
    if isinstance(value, Ref):
        return {"$ref": value.entity.value, "id": value.id}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot encode {type(value).__name__} in a field map")


def to_fields(obj: Any) -> dict[str, FieldValue]:
    """The field map of a canonical entity."""
    return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(kind: Any, value: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _decode(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item) for item in value)
        return tuple(_decode(a, item) for a, item in zip(args, value, strict=True))
    if kind is Decimal:
        return Decimal(value)
    if kind is Money:
        return Money(Decimal(value["amount"]), value["currency"])
    if kind is Ref:
        return Ref(EntityType(value["$ref"]), value["id"])
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _build(kind, value)
    return value


def _build(cls: type[Any], fields: Mapping[str, Any]) -> Any:
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: _decode(hints[name], value) for name, value in fields.items() if name in known})


def from_fields(entity: EntityType | str, fields: Mapping[str, FieldValue]) -> Any:
    """Rebuild the canonical entity of `entity` from its field map (unknown fields are ignored)."""
    return _build(ENTITY_CLASSES[EntityType(entity)], fields)


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, compact, UTF-8 kept; what fingerprints hash and the store keeps."""
    try:
        # orjson writes these maps byte for byte as `json` does (tests/unit/test_canonical_json.py), at a
        # tenth of the cost: a 1C catalog dumps every item twice (its fingerprint, its mirror row).
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        # What orjson does not take (an integer beyond 64 bits, a key that is not a string) `json` does.
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_loads(text: str) -> Any:
    """The value a JSON text holds, as `json.loads` reads it; at orjson's pace when the text is canonical.

    orjson reads an integer beyond 64 bits as a float, silently, and refuses some of what `json` takes
    (a lone surrogate escape, `NaN`). So its reading is kept only when writing it back gives the text
    again, which a canonical text (`canonical_json`: spool lines, mirror rows, bases) read losslessly
    does; any other text is read by `json` (tests/unit/test_canonical_json.py).
    """
    body = text.rstrip("\n")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(text)
    try:
        again = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.loads(text)
    return value if again == body.encode() else json.loads(text)


def fingerprint(fields: Mapping[str, Any]) -> str:
    """A stable hash of a field map: equal maps, equal fingerprints."""
    return fingerprint_of(canonical_json(fields))


def fingerprint_of(text: str) -> str:
    """The fingerprint of a field map from its canonical text (a store that keeps the text dumps once)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
