"""`crm.item.add|update|get|list|delete|fields` for leads, deals, contacts, companies and smart invoices.

Typed camelCase (docs/protocols/bitrix24.md §2.2, §5.1): `{"item": {...}}`, `{"items": [...]}` with `total`,
`delete` → `[]`; UFs as `ufCrm…` unless `useOriginalUfNames=Y`; `fm` for phones and e-mails (§5.4);
`ENTITY_TYPE_NOT_SUPPORTED` for types not served (e.g. the old invoices, 5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24 import crm_store, query
from obmen_sandbox.bitrix24.crm import field_entry
from obmen_sandbox.bitrix24.crm_schema import Entity, by_type_id
from obmen_sandbox.bitrix24.crm_values import item_value, names_of, to_int
from obmen_sandbox.bitrix24.registry import Call, Listed, PortalLike, RestError, method

__all__ = ["entity_of", "item_row", "legacy_only"]

_ALWAYS = ("ID",)
# crm.item writes "no company" as 0 and empty texts as "" where legacy methods write null (item-update).
_ITEM_EMPTY: dict[str, Any] = {"COMPANY_ID": 0, "CONTACT_ID": 0, "COMMENTS": "", "SOURCE_ID": ""}
_ITEM_EMPTY["SOURCE_DESCRIPTION"] = ""
# crm.item has one `address` (and a company's `addressLegal`); the parts, the registered address and the
# last communication time are legacy members only (object-fields.md, crm-item-get.md).
_LEGACY_ONLY = re.compile(r"^(REG_ADDRESS.*|ADDRESS_(?!LEGAL$).+|LAST_COMMUNICATION_TIME)$")


def legacy_only(name: str) -> bool:
    """Whether a stored field is answered by legacy methods but not by `crm.item.*`."""
    return _LEGACY_ONLY.match(name) is not None


def entity_of(call: Call) -> Entity:
    """The entity named by `entityTypeId`, or ENTITY_TYPE_NOT_SUPPORTED."""
    raw = call.param("entityTypeId")
    entity = by_type_id(raw)
    if entity is None:
        raise RestError("ENTITY_TYPE_NOT_SUPPORTED", f"Entity type `{raw}` is not supported")
    return entity


def _original(call: Call) -> bool:
    return str(call.param("useOriginalUfNames") or "N").upper() in ("Y", "1", "TRUE")


def item_row(
    portal: PortalLike,
    entity: Entity,
    row: Mapping[str, Any],
    original_uf: bool,
    select: set[str] | None = None,
) -> dict[str, Any]:
    """A stored row as `crm.item.*` answer it; `select` holds upper-case names (None = all)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if select is not None and name not in select and name not in _ALWAYS:
            continue
        if legacy_only(name):
            continue
        if value is None and name in _ITEM_EMPTY:
            value = _ITEM_EMPTY[name]
        out[entity.item_name(name, original_uf)] = item_value(value)
    if select is None:
        out.update({k: v for k, v in item_extras(portal, entity, row).items() if k not in out})
        out["entityTypeId"] = entity.type_id
    if entity.has_multifields and (select is None or "FM" in select):
        out["fm"] = [
            {"id": i["ID"], "typeId": i["TYPE_ID"], "valueType": i["VALUE_TYPE"], "value": i["VALUE"]}
            for i in crm_store.multifields(portal, entity, int(row["ID"]))
        ]
    return out


def _first(items: list[dict[str, Any]], type_id: str, value_type: str | None = None) -> str:
    return next(
        (i["VALUE"] for i in items if i["TYPE_ID"] == type_id and value_type in (None, i["VALUE_TYPE"])), ""
    )


def item_extras(portal: PortalLike, entity: Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """Computed members crm.item answers besides the stored fields (D:…/crm/universal/crm-item-get.md)."""
    extras: dict[str, Any] = {"dateCreateShort": None, "dateModifyShort": None, "productId": None}
    extras |= {
        "webformId": 0,
        "observers": [],
        "searchContent": f"{row['ID']} {row.get('TITLE') or ''}".strip(),
    }
    semantic = row.get(f"{(entity.stage_field or '').removesuffix('_ID')}_SEMANTIC_ID")
    if entity.type_id in (2, 31):
        for name in ("begindateShort", "closedateShort", "eventDate", "eventDateShort", "eventDescription"):
            extras[name] = None
        extras |= {"eventId": None, "lostAmount": None, "orderStage": None, "receivedAmount": None}
        extras["isWon"] = "Y" if semantic == "S" else "N"
        extras["isLose"] = "Y" if semantic == "F" else "N"
        extras["isWork"] = "Y" if semantic == "P" else "N"
        owned = portal.table("crm.productrow").rows.values()
        has = any(r["ownerType"] == entity.owner_type and r["ownerId"] == row["ID"] for r in owned)
        extras["hasProducts"] = "Y" if has else "N"
    if entity.type_id == 1:
        extras["isConvert"] = "Y" if semantic == "S" else "N"
    if entity.has_multifields:
        items = crm_store.multifields(portal, entity, int(row["ID"]))
        extras |= {"shortName": None, "login": None, "skype": None, "icq": None, "imol": ""}
        extras |= {"phone": _first(items, "PHONE"), "email": _first(items, "EMAIL")}
        for kind in ("MOBILE", "WORK", "MAILING"):
            extras["phone" + kind.capitalize()] = _first(items, "PHONE", kind)
        for kind in ("HOME", "WORK", "MAILING"):
            extras["email" + kind.capitalize()] = _first(items, "EMAIL", kind)
        extras["hasPhone"] = "Y" if extras["phone"] else "N"
        extras["hasEmail"] = "Y" if extras["email"] else "N"
        extras["hasImol"] = "N"
    return extras


def _fields(call: Call) -> dict[str, Any]:
    fields = call.param("fields")
    if not isinstance(fields, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Required parameter 'fields' is not set or is not an array")
    entity = entity_of(call)
    return {entity.upper_name(str(k)): v for k, v in fields.items() if str(k) != "fm"}


def _fm_add(call: Call) -> list[dict[str, Any]]:
    fm = (call.param("fields") or {}).get("fm") or []
    entries = fm.values() if isinstance(fm, Mapping) else fm
    return [
        {"TYPE_ID": e.get("typeId"), "VALUE": e.get("value"), "VALUE_TYPE": e.get("valueType")}
        for e in entries
        if isinstance(e, Mapping)
    ]


def _fm_update(call: Call) -> list[dict[str, Any]]:
    """Update semantics: keys `n0…` are new items, numeric keys change an item; empty value deletes (§5.4)."""
    fm = (call.param("fields") or {}).get("fm") or {}
    entries = fm.items() if isinstance(fm, Mapping) else enumerate(fm)
    items = []
    for key, e in entries:
        if not isinstance(e, Mapping) or not e.get("typeId"):
            continue  # without typeId the portal silently ignores the entry
        item = {"TYPE_ID": e["typeId"], "VALUE": e.get("value", ""), "VALUE_TYPE": e.get("valueType")}
        if str(key).isdigit() and isinstance(fm, Mapping):
            item["ID"] = key
        items.append(item)
    return items


def _found(portal: PortalLike, entity: Entity, call: Call) -> dict[str, Any]:
    row_id = to_int(call.param("id"))
    row = crm_store.find(portal, entity, row_id) if row_id else None
    if row is None:
        raise RestError("NOT_FOUND", "Element not found")
    return row


@method("crm.item.add", scope="crm")
def item_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Create an item."""
    entity = entity_of(call)
    new_id = crm_store.create(portal, entity, _fields(call), call, _fm_add(call))
    return {"item": item_row(portal, entity, portal.table(entity.table).rows[new_id], _original(call))}


@method("crm.item.update", scope="crm")
def item_update(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Change an item (categoryId may move it to another pipeline)."""
    entity = entity_of(call)
    row = _found(portal, entity, call)
    fields = _fields(call)
    crm_store.set_multifields(portal, entity, int(row["ID"]), _fm_update(call))
    crm_store.update(portal, entity, row, fields, call, allow_category=True)
    return {"item": item_row(portal, entity, row, _original(call))}


@method("crm.item.get", scope="crm")
def item_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One item."""
    entity = entity_of(call)
    return {"item": item_row(portal, entity, _found(portal, entity, call), _original(call))}


@method("crm.item.delete", scope="crm")
def item_delete(portal: PortalLike, call: Call) -> list[Any]:
    """Delete an item; answers `[]`."""
    entity = entity_of(call)
    row = _found(portal, entity, call)
    crm_store.delete(portal, entity, int(row["ID"]), call)
    return []


def _select(entity: Entity, wanted: Any) -> set[str] | None:
    names = [str(n) for n in names_of(wanted)]
    if not names or "*" in names:
        return None
    return {"FM" if n == "fm" else entity.upper_name(n) for n in names}


@method("crm.item.list", scope="crm")
def item_list(portal: PortalLike, call: Call) -> Listed:
    """Items by filter (operators, nested `logic` groups), order and page of 50."""
    entity = entity_of(call)

    def resolve(name: str) -> str | None:
        upper = entity.upper_name(name)
        return upper if upper in entity.spec or upper.startswith("UF_") else None

    where = call.param("filter") or {}
    order = call.param("order") or {}
    if not isinstance(where, Mapping) or not isinstance(order, Mapping):
        raise RestError("INVALID_ARG_VALUE", "Parameters 'filter' and 'order' must be objects")
    query.matches({}, where, resolve)  # unknown fields are refused even when no row is there to test
    rows = [row for _, row in portal.table(entity.table) if query.matches(row, where, resolve)]
    rows = query.sort_rows(rows, order, resolve)
    got = query.page(rows, query.parse_start(call.param("start")))
    chosen = _select(entity, call.param("select"))
    original = _original(call)
    items = [item_row(portal, entity, row, original, chosen) for row in got.rows]
    return Listed({"items": items}, got.total, got.next)


@method("crm.item.fields", scope="crm")
def item_fields(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Field descriptions keyed by camelCase name, with `upperName`."""
    entity = entity_of(call)
    original = _original(call)
    out: dict[str, Any] = {}
    for spec in entity.described:
        if spec.type == "crm_multifield" or legacy_only(spec.name):
            continue
        out[entity.item_name(spec.name, original)] = {**field_entry(spec), "upperName": spec.name}
    return {"fields": out}
