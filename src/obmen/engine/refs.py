"""References between objects inside field maps, translated between id spaces.

A connector writes a reference as `{"$ref": "<entity>", "id": "<its external id>"}`; the merge works on
canonical ids; a write goes out with the target system's external id. The translation is bulk: collect
every reference of a batch, resolve them through the id map in one query per (entity, system), then
rewrite. A reference nobody can resolve yet (the customer of an order that is not linked, or not yet
created in the target system) is reported, so the reconciler can enqueue it and come back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["Lookup", "Unresolved", "collect", "is_ref", "rewrite"]

#: (entity, id) of a reference that could not be translated.
Unresolved = tuple[str, str]

#: Translates (entity, id) into the other id space, or None.
Lookup = Callable[[str, str], str | None]


def is_ref(value: Any) -> bool:
    """Whether `value` is a reference."""
    return isinstance(value, dict) and "$ref" in value and "id" in value and len(value) == 2


def _walk(value: Any) -> Iterator[tuple[str, str]]:
    if is_ref(value):
        yield str(value["$ref"]), str(value["id"])
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _plain(value: Any) -> bool:
    """A scalar, or a list of scalars: nothing in it can be a reference (most fields; no walk needed)."""
    if isinstance(value, dict):
        return False
    if isinstance(value, list):
        for v in value:
            if isinstance(v, dict | list):
                return False
    return True


def collect(fields: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (entity, id) referenced anywhere in `fields`."""
    return {ref for value in fields.values() if not _plain(value) for ref in _walk(value)}


def rewrite(fields: Mapping[str, Any], lookup: Lookup) -> tuple[dict[str, Any], set[Unresolved]]:
    """Translate every reference with `lookup(entity, id)`; returns the new fields and what failed."""
    missing: set[Unresolved] = set()

    def convert(value: Any) -> Any:
        if is_ref(value):
            entity, ident = str(value["$ref"]), str(value["id"])
            target = lookup(entity, ident)
            if target is None:
                missing.add((entity, ident))
                return value
            return {"$ref": entity, "id": target}
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return {name: value if _plain(value) else convert(value) for name, value in fields.items()}, missing
