"""Wire format: PHP bracket notation in, PHP-flavoured JSON out (docs/protocols/bitrix24.md §2.1, §2.2).

Form bodies and query strings carry nested parameters as `fields[PHONE][0][VALUE]=…` and `select[]=ID`;
PHP turns them into arrays, and arrays indexed 0..n-1 become JSON lists. On the way out PHP's
`json_encode` writes an empty array as `[]` even where a map is meant and escapes `/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "dumps",
    "iso",
    "parse_brackets",
    "parse_query",
    "phpify",
    "time_block",
]

MAX_NESTING = 64
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")

#: The sandbox portal's time zone (a Moscow portal: dates are written with +03:00, §2.2 examples use offsets).
PORTAL_TZ = timezone(timedelta(hours=3))


def _split_key(key: str) -> list[str] | None:
    """`a[b][]` → ['a', 'b', '']; None when the key has no brackets."""
    head, bracket, rest = key.partition("[")
    if not bracket or not head:
        return None
    parts = [head]
    rest = "[" + rest
    pos = 0
    for match in _SEGMENT.finditer(rest):
        if match.start() != pos:
            break
        parts.append(match.group(1))
        pos = match.end()
    # PHP ignores anything after the last well-formed segment.
    return parts


def _next_index(container: dict[str, Any]) -> str:
    numbers = [int(k) for k in container if k.isdigit()]
    return str(max(numbers) + 1 if numbers else 0)


def _assign(root: dict[str, Any], parts: list[str], value: str) -> None:
    node = root
    for i, part in enumerate(parts):
        key = _next_index(node) if part == "" else part
        if i == len(parts) - 1:
            node[key] = value
            return
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child


def _listify(value: Any) -> Any:
    """Maps keyed exactly "0".."n-1" in order become lists, as PHP's packed arrays do in JSON."""
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v) for k, v in value.items()}
    keys = list(converted)
    if keys and keys == [str(i) for i in range(len(keys))]:
        return list(converted.values())
    return converted


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest `(key, value)` pairs in PHP bracket notation into dicts and lists of strings."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = _split_key(key)
        if parts is not None and len(parts) > MAX_NESTING:
            continue  # PHP drops variables nested deeper than max_input_nesting_level (64)
        if parts is None or len(parts) == 1:
            # PHP turns an unclosed `a[b` into the plain name `a_b`.
            root[key.replace("[", "_", 1) if parts else key] = value
        else:
            _assign(root, parts, value)
    result = _listify(root)
    return result if isinstance(result, dict) else {}


def parse_query(query: str) -> dict[str, Any]:
    """Parse a URL-encoded query string in bracket notation."""
    return parse_brackets(parse_qsl(query, keep_blank_values=True))


def phpify(value: Any) -> Any:
    """Empty maps become `[]` as PHP writes them (§2.2: `"result_total": []`)."""
    if isinstance(value, Mapping):
        if not value:
            return []
        return {str(k): phpify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [phpify(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """JSON as PHP's `json_encode` writes it: ASCII with `\\u` escapes, `/` escaped, `[]` for empty maps."""
    text = json.dumps(phpify(value), ensure_ascii=True, separators=(",", ":"))
    return text.replace("/", "\\/").encode()


def iso(moment: float) -> str:
    """ISO 8601 with the portal's offset, as every date on the wire (`2024-08-30T14:29:00+03:00`)."""
    return datetime.fromtimestamp(moment, UTC).astimezone(PORTAL_TZ).isoformat(timespec="seconds")


def time_block(
    start: float, finish: float, *, operating: float | None = None, reset_at: float | None = None
) -> dict[str, Any]:
    """The envelope's `time` member; `operating*` only under cloud limits (§2.2, §3)."""
    block: dict[str, Any] = {
        "start": round(start, 6),
        "finish": round(finish, 6),
        "duration": round(finish - start, 6),
        "processing": round(finish - start, 6),
        "date_start": iso(start),
        "date_finish": iso(finish),
    }
    if operating is not None:
        block["operating_reset_at"] = int(reset_at if reset_at is not None else finish)
        block["operating"] = round(operating, 6)
    return block
