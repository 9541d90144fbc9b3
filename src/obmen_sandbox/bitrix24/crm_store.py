"""CRM objects in the portal's tables: create, update, delete with the portal's own rules.

Shared by the legacy `crm.{deal,contact,company,lead}.*` methods and `crm.item.*`, so that both families
see one object and one set of events (docs/protocols/bitrix24.md §5.2–§5.5, §6.2). Rows hold legacy upper-case
names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from obmen_sandbox.bitrix24 import stages
from obmen_sandbox.bitrix24.crm_schema import Entity
from obmen_sandbox.bitrix24.crm_values import coerce, to_int
from obmen_sandbox.bitrix24.registry import Call, PortalLike
from obmen_sandbox.bitrix24.wire import PORTAL_TZ, iso

__all__ = ["create", "delete", "find", "multifields", "set_multifields", "update"]

_DEFAULT_TITLES = {
    "DEAL": "Сделка #{}",
    "LEAD": "Лид #{}",
    "COMPANY": "Компания #{}",
    "SMART_INVOICE": "Счёт #{}",
}
_MULTI_TYPES = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
_PARENT = re.compile(r"^PARENT_ID_\d+$")


def find(portal: PortalLike, entity: Entity, row_id: Any) -> dict[str, Any] | None:
    """The stored row, or None."""
    return portal.table(entity.table).get(row_id)


def _writable(entity: Entity, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Known writable fields and user fields, coerced; unknown fields are silently ignored (§5.2)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        key = str(name).upper()
        spec = entity.spec.get(key)
        if key.startswith("UF_"):
            out[key] = value
        elif _PARENT.match(key):
            out[key] = to_int(value)  # a link to a smart-process item (PARENT_ID_{entityTypeId}, §5.2)
        elif spec is not None and not spec.read_only and spec.type != "crm_multifield" and key != "ID":
            out[key] = coerce(spec, value)
    return out


def _link_ids(row: dict[str, Any], single: str, plural: str, changes: Mapping[str, Any]) -> None:
    """Keep `CONTACT_ID` the first of `CONTACT_IDS`; a new list replaces the old one entirely (§5.2)."""
    if plural in changes:
        ids = [i for i in (changes[plural] or []) if i]
        row[plural] = ids
        row[single] = ids[0] if ids else None
    elif single in changes:
        first = changes[single]
        rest = [i for i in row.get(plural) or [] if i != first]
        row[plural] = ([first] if first else []) + rest
        row[single] = first or None


def _apply_stage(portal: PortalLike, entity: Entity, row: dict[str, Any], call: Call, moved: bool) -> None:
    field = entity.stage_field
    if field is None:
        return
    type_id = entity.type_id
    category = int(row.get("CATEGORY_ID") or 0) if type_id != 1 else 0
    stage = row.get(field)
    semantic = stages.semantic_of(portal, type_id, category, str(stage)) if stage else None
    if semantic is None:
        # A stage of another pipeline (or none) falls back to the pipeline's first stage.
        row[field] = stages.default_stage(portal, type_id, category)
        semantic = stages.semantic_of(portal, type_id, category, str(row[field])) or "P"
    row[f"{field.removesuffix('_ID')}_SEMANTIC_ID"] = semantic
    if "CLOSED" in entity.spec:
        row["CLOSED"] = "Y" if semantic in ("S", "F") else "N"
    if "DATE_CLOSED" in entity.spec and (moved or semantic == "P"):
        # A lead is closed when it reaches a final status and open again when moved back (crm-lead-fields.md).
        row["DATE_CLOSED"] = iso(portal.clock.now()) if semantic in ("S", "F") else None
    if moved:
        row["MOVED_TIME"] = iso(portal.clock.now())
        row["MOVED_BY_ID"] = call.user_id


def _defaults(portal: PortalLike, entity: Entity, call: Call) -> dict[str, Any]:
    now = portal.clock.now()
    row: dict[str, Any] = {
        spec.name: [] if spec.multiple else None for spec in entity.fields if spec.type != "crm_multifield"
    }
    row.update(
        ASSIGNED_BY_ID=call.user_id,
        CREATED_BY_ID=call.user_id,
        MODIFY_BY_ID=call.user_id,
        DATE_CREATE=iso(now),
        DATE_MODIFY=iso(now),
        OPENED="Y",
        LAST_ACTIVITY_BY=call.user_id,
        LAST_ACTIVITY_TIME=iso(now),
    )
    if "OPPORTUNITY" in entity.spec:
        row.update(OPPORTUNITY=0.0, IS_MANUAL_OPPORTUNITY="N", CURRENCY_ID="RUB")
    if "TAX_VALUE" in entity.spec:
        row["TAX_VALUE"] = 0.0
    if "BEGINDATE" in entity.spec:
        today = datetime.fromtimestamp(now, PORTAL_TZ).date()
        midnight = datetime.combine(today, datetime.min.time(), PORTAL_TZ)
        row["BEGINDATE"] = midnight.isoformat(timespec="seconds")
        row["CLOSEDATE"] = (midnight + timedelta(days=7)).isoformat(timespec="seconds")
    if entity.name == "DEAL":
        row.update(TYPE_ID="SALE", CATEGORY_ID=0, IS_NEW="Y", IS_RECURRING="N", IS_RETURN_CUSTOMER="N")
        row["IS_REPEATED_APPROACH"] = "N"
    if entity.name == "SMART_INVOICE":
        row["CATEGORY_ID"] = stages.default_category(portal, 31)
    if entity.name == "LEAD":
        row["IS_RETURN_CUSTOMER"] = "N"
    if entity.name == "CONTACT":
        row["EXPORT"] = "Y"
    if entity.name == "COMPANY":
        row["IS_MY_COMPANY"] = "N"
    return row


def create(
    portal: PortalLike,
    entity: Entity,
    fields: Mapping[str, Any],
    call: Call,
    multi: Iterable[Mapping[str, Any]] = (),
) -> int:
    """Insert an object and emit its ADD event; `multi` are multi-field items {TYPE_ID, VALUE, VALUE_TYPE}."""
    changes = _writable(entity, fields)
    row = _defaults(portal, entity, call)
    row.update(changes)
    for single, plural in (("CONTACT_ID", "CONTACT_IDS"), ("COMPANY_ID", "COMPANY_IDS")):
        if plural in entity.spec:
            row[plural] = []
            _link_ids(row, single, plural, changes)
    if entity.type_id == 31 and not stages.stages_of(portal, 31, int(row.get("CATEGORY_ID") or 0)):
        row["CATEGORY_ID"] = stages.default_category(portal, 31)
    table = portal.table(entity.table)
    row_id = table.add(row)
    stored = table.rows[row_id]
    stored["ID"] = row_id
    if entity.title_field and not stored.get(entity.title_field) and entity.name in _DEFAULT_TITLES:
        stored[entity.title_field] = _DEFAULT_TITLES[entity.name].format(row_id)
    if entity.name == "SMART_INVOICE" and not stored.get("ACCOUNT_NUMBER"):
        stored["ACCOUNT_NUMBER"] = str(row_id)
    _apply_stage(portal, entity, stored, call, moved=True)
    for item in multi:
        _add_multifield(portal, entity, row_id, item)
    _emit(portal, entity, "ADD", row_id, call)
    return row_id


def update(
    portal: PortalLike,
    entity: Entity,
    row: dict[str, Any],
    fields: Mapping[str, Any],
    call: Call,
    *,
    allow_category: bool = False,
) -> None:
    """Change an object in place and emit its UPDATE event (and MOVETOCATEGORY when it moved)."""
    changes = _writable(entity, fields)
    if not allow_category:
        changes.pop("CATEGORY_ID", None)  # legacy update cannot move a deal between pipelines
    old_stage = row.get(entity.stage_field) if entity.stage_field else None
    old_category = row.get("CATEGORY_ID")
    for single, plural in (("CONTACT_ID", "CONTACT_IDS"), ("COMPANY_ID", "COMPANY_IDS")):
        if plural in entity.spec:
            _link_ids(row, single, plural, changes)
            changes.pop(single, None)
            changes.pop(plural, None)
    row.update(changes)
    row["MODIFY_BY_ID"] = call.user_id
    row["DATE_MODIFY"] = iso(portal.clock.now())
    if entity.stage_field:
        moved = row.get(entity.stage_field) != old_stage or row.get("CATEGORY_ID") != old_category
        if moved and entity.type_id == 31:
            row["PREVIOUS_STAGE_ID"] = old_stage
        _apply_stage(portal, entity, row, call, moved=moved)
    _emit(portal, entity, "UPDATE", row["ID"], call)
    if entity.type_id == 2 and row.get("CATEGORY_ID") != old_category:
        portal.emit(
            "ONCRMDEALMOVETOCATEGORY",
            row["ID"],
            call,
            CATEGORY_ID=row["CATEGORY_ID"],
            STAGE_ID=row["STAGE_ID"],
        )


def delete(portal: PortalLike, entity: Entity, row_id: int, call: Call) -> None:
    """Remove an object with its multi-fields and product rows, and emit its DELETE event."""
    portal.table(entity.table).delete(row_id)
    mf = portal.table("crm.multifield")
    for mf_id, item in list(mf):
        if item["ENTITY_ID"] == entity.name and item["ELEMENT_ID"] == row_id:
            mf.delete(mf_id)
    rows = portal.table("crm.productrow")
    for pr_id, pr in list(rows):
        if pr["ownerType"] == entity.owner_type and pr["ownerId"] == row_id:
            rows.delete(pr_id)
    _emit(portal, entity, "DELETE", row_id, call)


def _emit(portal: PortalLike, entity: Entity, action: str, row_id: int, call: Call) -> None:
    if entity.type_id == 31:
        portal.emit(entity.event + action, row_id, call, ENTITY_TYPE_ID=31)
    else:
        portal.emit(entity.event + action, row_id, call)


def all_multifields(portal: PortalLike, entity: Entity) -> list[dict[str, Any]]:
    """Every multi-field item of an entity type in id order."""
    return [item for _, item in portal.table("crm.multifield") if item["ENTITY_ID"] == entity.name]


def multifields(portal: PortalLike, entity: Entity, row_id: int) -> list[dict[str, Any]]:
    """The object's multi-field items in id order."""
    rows = portal.table("crm.multifield").rows
    found = [
        item for item in rows.values() if item["ELEMENT_ID"] == row_id and item["ENTITY_ID"] == entity.name
    ]
    return sorted(found, key=lambda item: int(item["ID"]))


def _add_multifield(portal: PortalLike, entity: Entity, row_id: int, item: Mapping[str, Any]) -> None:
    value = str(item.get("VALUE") or "").strip()
    type_id = str(item.get("TYPE_ID") or "").upper()
    if not value or type_id not in _MULTI_TYPES:
        return
    table = portal.table("crm.multifield")
    new_id = table.add(
        {
            "ENTITY_ID": entity.name,
            "ELEMENT_ID": row_id,
            "TYPE_ID": type_id,
            "VALUE": value,
            "VALUE_TYPE": str(item.get("VALUE_TYPE") or "WORK").upper(),
        }
    )
    table.rows[new_id]["ID"] = new_id


def set_multifields(
    portal: PortalLike, entity: Entity, row_id: int, items: Iterable[Mapping[str, Any]]
) -> None:
    """Legacy semantics (§5.4): no ID → append; ID + DELETE=Y or empty/absent VALUE → delete; else change."""
    table = portal.table("crm.multifield")
    for item in items:
        item_id = to_int(item.get("ID"))
        if item_id is None:
            _add_multifield(portal, entity, row_id, item)
            continue
        current = table.get(item_id)
        if current is None or current["ELEMENT_ID"] != row_id or current["ENTITY_ID"] != entity.name:
            continue
        value = item.get("VALUE")
        if str(item.get("DELETE", "")).upper() == "Y" or value is None or str(value).strip() == "":
            table.delete(item_id)
            continue
        current["VALUE"] = str(value).strip()
        if item.get("VALUE_TYPE"):
            current["VALUE_TYPE"] = str(item["VALUE_TYPE"]).upper()
