"""The legacy deal dialect, for portals without `crm.item.*` (a box lagging the cloud).

See docs/protocols/bitrix24.md §1.3.

`crm.item.*` names fields in camelCase and types their values; the deprecated `crm.deal.*` and
`crm.deal.productrows.*` name the same fields in UPPER_SNAKE and answer every value as a string
(§2.2, §5.1: `ASSIGNED_BY_ID` → `assignedById`). The mapping code speaks the item dialect; these
functions translate at the edge, so one mapping serves both families.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["item_field", "to_item", "to_legacy", "to_legacy_filter", "to_legacy_row"]

#: Item fields whose legacy name is not the plain UPPER_SNAKE of the camelCase one (§5.2).
_RENAMED = {"updatedTime": "DATE_MODIFY", "createdTime": "DATE_CREATE"}
_FROM_LEGACY = {v: k for k, v in _RENAMED.items()}
_OPERATOR = re.compile(r"^([<>=!%@]*)(.*)$")
_NUMERIC = re.compile(r"-?\d+(\.\d+)?")


_UF_NUMBERED = re.compile(r"^UF_CRM_(\d+)_(\d+)$")


def item_field(name: str) -> str:
    """A deal field's `crm.item` name: `UF_CRM_10_5186744711` → `ufCrm10_5186744711`, other user
    fields `UF_CRM_NOTE` → `ufCrm_NOTE`, standard ones camelCase (`SOURCE_DESCRIPTION` →
    `sourceDescription`, docs/protocols/bitrix24.md §5.1)."""
    if name.startswith("UF_CRM_"):
        numbered = _UF_NUMBERED.match(name)
        return f"ufCrm{numbered.group(1)}_{numbered.group(2)}" if numbered else "ufCrm_" + name[7:]
    return _camel(name)


def _snake(name: str) -> str:
    if name.startswith("ufCrm"):
        return "UF_CRM_" + name[len("ufCrm") :].lstrip("_")
    return _RENAMED.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def _camel(name: str) -> str:
    if name in _FROM_LEGACY:
        return _FROM_LEGACY[name]
    if name.startswith("UF_CRM_"):
        return item_field(name)
    head, *rest = name.lower().split("_")
    return head + "".join(part.title() for part in rest)


def to_legacy(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Item-dialect deal fields as legacy `fields` (`stageId` → `STAGE_ID`)."""
    return {_snake(key): value for key, value in fields.items()}


def to_legacy_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An item product row as a legacy deal product row (`productName` → `PRODUCT_NAME`)."""
    return {_snake(key): value for key, value in row.items() if value is not None}


def to_legacy_filter(flt: Mapping[str, Any]) -> dict[str, Any]:
    """An item-dialect filter with its operator prefixes kept (`@originId` → `@ORIGIN_ID`)."""
    out: dict[str, Any] = {}
    for key, value in flt.items():
        match = _OPERATOR.match(key)
        assert match is not None  # the pattern matches every string
        out[match.group(1) + _snake(match.group(2))] = value
    return out


def _typed(key: str, value: Any) -> Any:
    # Legacy values are strings ("410", "1000.00"); ids and amounts become numbers as crm.item has them.
    numeric_id = (key == "ID" or key.endswith("_ID")) and not key.startswith("ORIGIN")
    if isinstance(value, str) and _NUMERIC.fullmatch(value) and numeric_id:
        return int(value) if "." not in value else float(value)
    return value


def to_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """A legacy deal or product row in the item dialect (`STAGE_ID` → `stageId`, ids as numbers)."""
    return {_camel(key): _typed(key, value) for key, value in row.items()}
