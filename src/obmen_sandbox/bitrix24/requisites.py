"""`crm.requisite.add|update|get|list|delete|fields` and `crm.requisite.preset.list` (docs/bitrix24.md §5.4).

Legacy conventions: upper-case names, string values, errors HTTP 400 with an empty code. ENTITY_TYPE_ID
(3 contact, 4 company), ENTITY_ID, PRESET_ID and NAME are required on add.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24 import crm_store, query
from obmen_sandbox.bitrix24.crm import require_id
from obmen_sandbox.bitrix24.crm_schema import ENTITIES, FieldSpec
from obmen_sandbox.bitrix24.crm_values import coerce, legacy_value, names_of, to_int
from obmen_sandbox.bitrix24.registry import Call, Listed, PortalLike, RestError, legacy_error, method
from obmen_sandbox.bitrix24.wire import iso

__all__: list[str] = []

_OWNERS = {3: ENTITIES["CONTACT"], 4: ENTITIES["COMPANY"]}
_TEXT: tuple[str, ...] = (
    "NAME",
    "CODE",
    "XML_ID",
    "ORIGINATOR_ID",
    "RQ_NAME",
    "RQ_FIRST_NAME",
    "RQ_LAST_NAME",
    "RQ_SECOND_NAME",
)
_TEXT += ("RQ_COMPANY_NAME", "RQ_COMPANY_FULL_NAME", "RQ_DIRECTOR", "RQ_ACCOUNTANT", "RQ_INN", "RQ_KPP")
_TEXT += ("RQ_OGRN", "RQ_OGRNIP", "RQ_OKPO", "RQ_OKVED", "RQ_EMAIL", "RQ_PHONE")
FIELDS: dict[str, FieldSpec] = {
    "ID": FieldSpec("ID", "integer", "ID", read_only=True),
    "ENTITY_TYPE_ID": FieldSpec("ENTITY_TYPE_ID", "integer", "Entity type", required=True),
    "ENTITY_ID": FieldSpec("ENTITY_ID", "integer", "Entity", required=True),
    "PRESET_ID": FieldSpec("PRESET_ID", "integer", "Preset", required=True),
    "DATE_CREATE": FieldSpec("DATE_CREATE", "datetime", "Created", read_only=True),
    "DATE_MODIFY": FieldSpec("DATE_MODIFY", "datetime", "Modified", read_only=True),
    "CREATED_BY_ID": FieldSpec("CREATED_BY_ID", "user", "Created by", read_only=True),
    "MODIFY_BY_ID": FieldSpec("MODIFY_BY_ID", "user", "Modified by", read_only=True),
    "ACTIVE": FieldSpec("ACTIVE", "char", "Active"),
    "SORT": FieldSpec("SORT", "integer", "Sort"),
    **{
        name: FieldSpec(name, "string", name.replace("_", " ").title(), required=name == "NAME")
        for name in _TEXT
    },
}


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in fields.items():
        key = str(name).upper()
        spec = FIELDS.get(key)
        if key.startswith("UF_") or (spec and not spec.read_only):
            out[key] = coerce(spec, value)
    return out


def _fields(call: Call) -> Mapping[str, Any]:
    fields = call.param("fields")
    if not isinstance(fields, Mapping):
        raise legacy_error("Parameter 'fields' must be array.")
    return fields


def _check_owner(portal: PortalLike, row: Mapping[str, Any]) -> None:
    owner = _OWNERS.get(to_int(row.get("ENTITY_TYPE_ID")) or 0)
    if owner is None:
        raise legacy_error("The field ENTITY_TYPE_ID is required or invalid.")
    if crm_store.find(portal, owner, row.get("ENTITY_ID")) is None:
        raise legacy_error("The field ENTITY_ID is required or invalid.")
    if portal.table("crm.requisite.preset").get(row.get("PRESET_ID")) is None:
        raise legacy_error("The field PRESET_ID is required or invalid.")
    if not row.get("NAME"):
        raise legacy_error("The field NAME is required.")


def _found(portal: PortalLike, call: Call) -> dict[str, Any]:
    row = portal.table("crm.requisite").get(require_id(call))
    if row is None:
        raise legacy_error("Not found")
    return row


def _out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: legacy_value(FIELDS.get(k), v) for k, v in row.items()}


@method("crm.requisite.add", scope="crm")
def requisite_add(portal: PortalLike, call: Call) -> int:
    """Create a requisite of a contact or company."""
    row: dict[str, Any] = {"ACTIVE": "Y", "SORT": 500} | _writable(_fields(call))
    _check_owner(portal, row)
    now = iso(portal.clock.now())
    row.update(DATE_CREATE=now, DATE_MODIFY=now, CREATED_BY_ID=call.user_id, MODIFY_BY_ID=call.user_id)
    table = portal.table("crm.requisite")
    new_id = table.add(row)
    table.rows[new_id] = {"ID": new_id, **table.rows[new_id]}
    portal.emit("ONCRMREQUISITEADD", new_id, call)
    return new_id


@method("crm.requisite.update", scope="crm")
def requisite_update(portal: PortalLike, call: Call) -> bool:
    """Change a requisite."""
    row = _found(portal, call)
    changed = {**row, **_writable(_fields(call))}
    _check_owner(portal, changed)
    row.update(changed, DATE_MODIFY=iso(portal.clock.now()), MODIFY_BY_ID=call.user_id)
    portal.emit("ONCRMREQUISITEUPDATE", row["ID"], call)
    return True


@method("crm.requisite.get", scope="crm")
def requisite_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One requisite."""
    return _out(_found(portal, call))


@method("crm.requisite.delete", scope="crm")
def requisite_delete(portal: PortalLike, call: Call) -> bool:
    """Delete a requisite."""
    row = _found(portal, call)
    portal.table("crm.requisite").delete(row["ID"])
    portal.emit("ONCRMREQUISITEDELETE", row["ID"], call)
    return True


_PRESET_FIELDS = {"COUNTRY_ID", "ACTIVE", "XML_ID", "SORT", "ENTITY_TYPE_ID", "NAME", "ID"}


def _resolve(name: str) -> str | None:
    upper = name.upper()
    return upper if upper in FIELDS or upper in _PRESET_FIELDS or upper.startswith("UF_") else None


def _listing(portal: PortalLike, call: Call, table: str) -> Listed:
    where = call.param("filter") or {}
    order = call.param("order") or {}
    if not isinstance(where, Mapping) or not isinstance(order, Mapping):
        raise legacy_error("Parameter 'filter' must be array.")
    try:
        rows = [row for _, row in portal.table(table) if query.matches(row, where, _resolve)]
        rows = query.sort_rows(rows, order, _resolve)
    except RestError as exc:
        raise legacy_error(exc.description) from exc
    got = query.page(rows, query.parse_start(call.param("start")))
    wanted = call.param("select") or []
    names = {str(n).upper() for n in names_of(wanted)}
    shown = [
        {k: v for k, v in _out(r).items() if not names or "*" in names or k in names or k == "ID"}
        for r in got.rows
    ]
    return Listed(shown, got.total, got.next)


@method("crm.requisite.list", scope="crm")
def requisite_list(portal: PortalLike, call: Call) -> Listed:
    """Requisites by filter (e.g. `ENTITY_TYPE_ID` + `ENTITY_ID`, or `RQ_INN`)."""
    return _listing(portal, call, "crm.requisite")


@method("crm.requisite.fields", scope="crm")
def requisite_fields(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Field descriptions."""
    return {
        name: {"type": s.type, "isRequired": s.required, "isReadOnly": s.read_only, "isImmutable": False}
        | {"isMultiple": False, "isDynamic": False, "title": s.title}
        for name, s in FIELDS.items()
    }


@method("crm.requisite.preset.list", scope="crm")
def preset_list(portal: PortalLike, call: Call) -> Listed:
    """Requisite templates (Организация, ИП, Физ. лицо)."""
    return _listing(portal, call, "crm.requisite.preset")
