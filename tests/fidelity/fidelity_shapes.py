"""Compare the SHAPE of two JSON documents: the same keys at every level and the same JSON types.

Values, ids and dates may differ between the official docs' examples and the sandbox; what must not
differ is which keys exist and whether a value is a string, a number, a boolean, an object or an array
(legacy `crm.*` methods answer strings, `crm.item.*` typed values: docs/protocols/bitrix24.md §2.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# `time` carries `operating` and `operating_reset_at` only on cloud portals; the field set "may vary"
# (docs/protocols/bitrix24.md §2.2, D:…/data-types.md#time), so neither side is required to have them.
VARIABLE_TIME_KEYS = frozenset({"operating", "operating_reset_at"})

# Maps that PHP serialises as `[]` when empty (docs/protocols/bitrix24.md §4: "Empty members are `[]`").
EMPTY_AS_ARRAY = frozenset({"result_error", "result_total", "result_next", "result_time"})


def json_type(value: Any) -> str:
    """Name the JSON type of a decoded value; integers and floats are both `number`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def shape_diff(
    expected: Any,
    actual: Any,
    *,
    ignore: Iterable[str] = (),
    nullable: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> list[str]:
    """List every shape difference between `expected` (from the docs) and `actual`, one line each.

    Paths are dotted (`result.item.parentId1220`, `[]` for any list element). `ignore` paths are left
    out on both sides (custom fields of the docs' own portal). `nullable` paths may be `null` in
    `actual` where the docs show a value (a field the docs' portal happened to fill); when not null,
    their type is still checked. `optional` keys may be absent on either side (the docs' own examples
    disagree on them); when present on both sides their type is still checked.
    """
    problems: list[str] = []
    paths = _Paths(frozenset(ignore), frozenset(nullable), frozenset(optional))
    _compare(expected, actual, "$", paths, problems)
    return problems


@dataclass(frozen=True)
class _Paths:
    ignore: frozenset[str]
    nullable: frozenset[str]
    optional: frozenset[str]


def _compare(expected: Any, actual: Any, path: str, paths: _Paths, out: list[str]) -> None:
    want, got = json_type(expected), json_type(actual)
    if want == "null":
        # The docs show an unset field; its type when set is not shown, so anything is acceptable.
        return
    if got == "null" and _generic(path) in paths.nullable:
        return
    if want == "object" and actual == [] and path.rsplit(".", 1)[-1] in EMPTY_AS_ARRAY:
        # PHP serialises an empty associative array as `[]` (docs/protocols/bitrix24.md §2.2, §4).
        return
    if want != got:
        out.append(f"{path}: expected {want} ({_brief(expected)}), got {got} ({_brief(actual)})")
        return
    if want == "object":
        _compare_objects(expected, actual, path, paths, out)
    elif want == "array":
        _compare_arrays(expected, actual, path, paths, out)


def _compare_objects(
    expected: dict[str, Any], actual: dict[str, Any], path: str, paths: _Paths, out: list[str]
) -> None:
    if not actual:
        out.append(f"{path}: expected an object with keys {sorted(expected)}, got {{}} (PHP answers [])")
        return
    variable = VARIABLE_TIME_KEYS if path.endswith(".time") or ".result_time." in path else frozenset()
    skipped = {
        key for key in expected.keys() | actual.keys() if _dotted(path, key) in paths.ignore
    } | variable
    skipped |= {key for key in expected.keys() ^ actual.keys() if _dotted(path, key) in paths.optional}
    for key in sorted(expected.keys() - actual.keys() - skipped):
        out.append(f"{path}.{key}: missing (docs have {json_type(expected[key])})")
    for key in sorted(actual.keys() - expected.keys() - skipped):
        out.append(f"{path}.{key}: unexpected key ({json_type(actual[key])}), not in the docs")
    for key in expected.keys() & actual.keys() - skipped:
        _compare(expected[key], actual[key], f"{path}.{key}", paths, out)


def _compare_arrays(expected: list[Any], actual: list[Any], path: str, paths: _Paths, out: list[str]) -> None:
    if expected and not actual:
        out.append(f"{path}: expected a non-empty array like the docs, got []")
        return
    if not expected:
        return
    for index, item in enumerate(actual):
        # An element passes when it matches ANY element of the docs' array (their elements differ:
        # crm.status.list rows have EXTRA only for some entities); report against the closest one.
        attempts = [_diff_at(candidate, item, f"{path}[{index}]", paths) for candidate in expected]
        best = min(attempts, key=len)
        out.extend(best)


def _diff_at(expected: Any, actual: Any, path: str, paths: _Paths) -> list[str]:
    problems: list[str] = []
    _compare(expected, actual, path, paths, problems)
    return problems


def _dotted(path: str, key: str) -> str:
    """Turn `$.result.items[3]` + `id` into the path-list form `result.items[].id`."""
    generic = _generic(path)
    return f"{generic}.{key}" if generic else key


def _generic(path: str) -> str:
    """Turn `$.result.items[3].id` into `result.items[].id`."""
    bare = path.removeprefix("$").removeprefix(".")
    return "".join("[]" if part.endswith("]") else part for part in _split_indices(bare))


def _split_indices(path: str) -> list[str]:
    parts: list[str] = []
    current = ""
    for char in path:
        if char == "[":
            parts.append(current)
            current = "["
        elif char == "]":
            parts.append(current + "]")
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part]


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
