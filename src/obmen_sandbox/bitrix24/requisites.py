"""`crm.requisite.add|update|get|list|delete|fields` and `crm.requisite.preset.list`.

See §5.4 (docs/protocols/bitrix24.md).

Legacy conventions: upper-case names, string values, errors HTTP 400 with an empty code. ENTITY_TYPE_ID
(3 contact, 4 company), ENTITY_ID, PRESET_ID and NAME are required on add; the first three never change.
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
# Every field of crm-requisite-fields.md, in its order; `get` answers all of them, unset ones as null
# (crm-requisite-get.md's example). All `RQ_*` are strings but RQ_IDENT_TYPE and RQ_VAT_PAYER.
_RQ_TEXT = """NAME FIRST_NAME LAST_NAME SECOND_NAME COMPANY_ID COMPANY_NAME COMPANY_FULL_NAME COMPANY_REG_DATE
DIRECTOR ACCOUNTANT CEO_NAME CEO_WORK_POS CONTACT EMAIL PHONE FAX IDENT_TYPE IDENT_DOC IDENT_DOC_SER
IDENT_DOC_NUM IDENT_DOC_PERS_NUM IDENT_DOC_DATE IDENT_DOC_ISSUED_BY IDENT_DOC_DEP_CODE INN KPP USRLE IFNS OGRN
OGRNIP OKPO OKTMO OKVED EDRPOU DRFO KBE IIN BIN ST_CERT_SER ST_CERT_NUM ST_CERT_DATE VAT_PAYER VAT_ID
VAT_CERT_SER VAT_CERT_NUM VAT_CERT_DATE RESIDENCE_COUNTRY BASE_DOC REGON KRS PESEL LEGAL_FORM SIRET SIREN
CAPITAL RCS CNPJ STATE_REG MNPL_REG CPF"""
_RQ_NAMES = _RQ_TEXT.split()
_RQ_TYPES = {"RQ_IDENT_TYPE": "crm_status", "RQ_VAT_PAYER": "char"}
#: Set on add and never changed (crm-requisite-fields.md: `isImmutable`).
IMMUTABLE = frozenset({"ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID"})


def _spec(name: str, kind: str = "string", read_only: bool = False) -> FieldSpec:
    return FieldSpec(name, kind, name.replace("_", " ").title(), read_only=read_only)


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        _spec("ID", "integer", read_only=True),
        *(_spec(name, "integer") for name in ("ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID")),
        *(_spec(name, "datetime", read_only=True) for name in ("DATE_CREATE", "DATE_MODIFY")),
        *(_spec(name, "user", read_only=True) for name in ("CREATED_BY_ID", "MODIFY_BY_ID")),
        *(_spec(name) for name in ("NAME", "CODE", "XML_ID", "ORIGINATOR_ID")),
        _spec("ACTIVE", "char"),
        _spec("ADDRESS_ONLY", "char"),
        _spec("SORT", "integer"),
        *(_spec(f"RQ_{name}", _RQ_TYPES.get(f"RQ_{name}", "string")) for name in _RQ_NAMES),
    )
}
# What a new requisite holds before its `fields` are applied (crm-requisite-get.md: DATE_MODIFY and
# MODIFY_BY_ID stay empty until the first update).
_DEFAULTS: dict[str, Any] = dict.fromkeys(FIELDS) | {
    "ACTIVE": "Y",
    "ADDRESS_ONLY": "N",
    "SORT": 500,
    "RQ_VAT_PAYER": "N",
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
    row: dict[str, Any] = _DEFAULTS | _writable(_fields(call))
    _check_owner(portal, row)
    row.update(DATE_CREATE=iso(portal.clock.now()), CREATED_BY_ID=call.user_id)
    table = portal.table("crm.requisite")
    new_id = table.add(row)
    table.rows[new_id]["ID"] = new_id
    portal.emit("ONCRMREQUISITEADD", new_id, call)
    return new_id


@method("crm.requisite.update", scope="crm")
def requisite_update(portal: PortalLike, call: Call) -> bool:
    """Change a requisite."""
    row = _found(portal, call)
    # crm-requisite-update.md lists no owner or preset among its fields: they are ignored like unknown ones.
    changes = {k: v for k, v in _writable(_fields(call)).items() if k not in IMMUTABLE}
    changed = {**row, **changes}
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
        name: {"type": s.type, "isRequired": name in IMMUTABLE, "isReadOnly": s.read_only}
        | {"isImmutable": name in IMMUTABLE, "isMultiple": False, "isDynamic": False, "title": s.title}
        for name, s in FIELDS.items()
    }


@method("crm.requisite.preset.list", scope="crm")
def preset_list(portal: PortalLike, call: Call) -> Listed:
    """Requisite templates (Организация, ИП, Физ. лицо)."""
    return _listing(portal, call, "crm.requisite.preset")
