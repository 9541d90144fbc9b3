"""Values of CRM fields: coerced on the way in, rendered per API family on the way out (§2.2).

Stored values are typed (int, float, "Y"/"N", ISO strings, lists). Legacy methods render every scalar
as a string (`"ID":"410"`, `"OPPORTUNITY":"1000000.00"`, `null` stays null); `crm.item.*` render ints
and floats as JSON numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from obmen_sandbox.bitrix24.crm_schema import FieldSpec
from obmen_sandbox.bitrix24.registry import RestError
from obmen_sandbox.bitrix24.wire import PORTAL_TZ

__all__ = ["coerce", "item_value", "legacy_value", "names_of", "to_float", "to_int"]


def names_of(value: Any) -> list[str]:
    """A `select`-like parameter as a list of names: a list, a map of them (bracket bodies) or one name."""
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if isinstance(value, str) and value else []


_INT_TYPES = {
    "integer",
    "user",
    "crm_category",
    "crm_company",
    "crm_contact",
    "crm_lead",
    "crm_quote",
    "crm_entity",
}
_YES = {"Y", "1", "TRUE", "ON"}


def to_int(value: Any) -> int | None:
    """An integer from a number or a numeric string; None for empty."""
    if value is None or value == "" or isinstance(value, bool):
        return None if not isinstance(value, bool) else int(value)
    try:
        return int(float(str(value).strip()))
    except (ValueError, OverflowError):  # `inf` is no integer either
        return None


def to_float(value: Any) -> float | None:
    """A float from a number or a numeric string; None for empty."""
    if value is None or value == "":
        return None
    try:
        return float(str(value).strip().replace(",", "."))
    except ValueError:
        return None


def _date(value: Any, with_time: bool) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%d.%m.%Y")
        except ValueError as exc:
            raise RestError("", f"Invalid date value '{text}'") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PORTAL_TZ)
    if not with_time:
        parsed = datetime.combine(parsed.date(), datetime.min.time(), PORTAL_TZ)
    return parsed.isoformat(timespec="seconds")


def coerce(spec: FieldSpec | None, value: Any) -> Any:
    """The stored form of a value written to a field (unknown fields, i.e. UFs, keep what they got)."""
    if spec is None:
        return value
    if spec.multiple and spec.type != "crm_multifield":
        items = value if isinstance(value, list) else ([] if value in (None, "") else [value])
        return [coerce(FieldSpec(spec.name, spec.type), item) for item in items]
    if spec.type in _INT_TYPES:
        return to_int(value)
    if spec.type == "double":
        return to_float(value)
    if spec.type == "char":
        if isinstance(value, bool):
            return "Y" if value else "N"
        return "Y" if str(value).strip().upper() in _YES else "N"
    if spec.type in ("date", "datetime"):
        return _date(value, spec.type == "datetime")
    if value is None:
        return None
    return value if isinstance(value, list | dict) else str(value)


def _legacy_scalar(spec: FieldSpec | None, value: Any) -> Any:
    if value is None:
        # An unset date is "" where other unset fields are null (crm-lead-get.md: BIRTHDATE, DATE_CLOSED).
        return "" if spec is not None and spec.type in ("date", "datetime") else None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float) or (spec is not None and spec.type == "double"):
        return f"{float(value):.2f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def legacy_value(spec: FieldSpec | None, value: Any) -> Any:
    """A stored value as legacy `crm.*` methods write it: strings throughout."""
    if isinstance(value, list):
        return [legacy_value(spec, item) for item in value]
    if isinstance(value, dict):
        return {k: legacy_value(None, v) for k, v in value.items()}
    return _legacy_scalar(spec, value)


def item_value(value: Any) -> Any:
    """A stored value as `crm.item.*` writes it: numbers as numbers, integral floats without `.0`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [item_value(item) for item in value]
    return value
