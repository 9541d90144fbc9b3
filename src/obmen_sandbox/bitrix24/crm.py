"""Legacy `crm.{deal,contact,company,lead}.{add,update,get,list,delete,fields}` (docs/protocols/bitrix24.md).

See §5.2, §5.4.

Deprecated upstream but still served: upper-case names, every value a string, `add` → id, `update` and
`delete` → true, errors HTTP 400 with an empty code ("Not found", "ID is not defined or invalid.").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from obmen_sandbox.bitrix24 import crm_store, query
from obmen_sandbox.bitrix24.crm_schema import ENTITIES, Entity
from obmen_sandbox.bitrix24.crm_values import legacy_value, names_of, to_int
from obmen_sandbox.bitrix24.registry import Call, Listed, PortalLike, RestError, legacy_error, method

__all__ = ["fields_description", "legacy_row", "multi_items", "require_id"]

_MULTI = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
_MULTI_KEY = re.compile(r"(PHONE|EMAIL|WEB|IM|LINK)$", re.IGNORECASE)
# Linked-id lists are read through `crm.deal.contact.items.get` & co., not `get` (§2.4).
_HIDDEN = {"CONTACT_IDS", "COMPANY_IDS", "OBSERVERS"}


def require_id(call: Call) -> int:
    """The `id` parameter as a positive int, else the legacy error."""
    row_id = to_int(call.param("id"))
    if row_id is None or row_id <= 0:
        raise legacy_error("ID is not defined or invalid.")
    return row_id


def _fields(call: Call) -> Mapping[str, Any]:
    fields = call.param("fields")
    if not isinstance(fields, Mapping):
        raise legacy_error("Parameter 'fields' must be array.")
    return fields


def multi_items(entity: Entity, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """PHONE/EMAIL… items of a legacy `fields` map as {TYPE_ID, ID?, VALUE?, VALUE_TYPE?, DELETE?}."""
    items: list[dict[str, Any]] = []
    if not entity.has_multifields:
        return items
    for name, value in fields.items():
        type_id = str(name).upper()
        if type_id not in _MULTI:
            continue
        # Bracket bodies may key items by any index (`fields[PHONE][n0][VALUE]`).
        entries = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else []
        for entry in entries:
            if isinstance(entry, Mapping):
                items.append({**{str(k).upper(): v for k, v in entry.items()}, "TYPE_ID": type_id})
    return items


def legacy_row(
    portal: PortalLike, entity: Entity, row: Mapping[str, Any], select: set[str] | None = None
) -> dict[str, Any]:
    """A stored row as legacy methods answer it; `select` None means every field."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _HIDDEN or (select is not None and name not in select and name != "ID"):
            continue
        out[name] = legacy_value(entity.spec.get(name), value)
    if entity.has_multifields:
        items = crm_store.multifields(portal, entity, int(row["ID"]))
        for type_id in _MULTI:
            mine = [i for i in items if i["TYPE_ID"] == type_id]
            if mine and (select is None or type_id in select):
                out[type_id] = [
                    {
                        "ID": str(i["ID"]),
                        "VALUE_TYPE": i["VALUE_TYPE"],
                        "VALUE": i["VALUE"],
                        "TYPE_ID": type_id,
                    }
                    for i in mine
                ]
        if select is None or "*" in select:
            out["HAS_PHONE"] = "Y" if any(i["TYPE_ID"] == "PHONE" for i in items) else "N"
            out["HAS_EMAIL"] = "Y" if any(i["TYPE_ID"] == "EMAIL" for i in items) else "N"
            out["HAS_IMOL"] = "N"
    return out


def field_entry(spec: Any) -> dict[str, Any]:
    """One field's description as `*.fields` and `crm.item.fields` give it: type, flags, title."""
    return {
        "type": spec.type,
        "isRequired": spec.required,
        "isReadOnly": spec.read_only,
        "isImmutable": spec.name == "CATEGORY_ID",
        "isMultiple": spec.multiple,
        "isDynamic": False,
        "title": spec.title,
    }


def fields_description(entity: Entity) -> dict[str, Any]:
    """`*.fields`: every field with type, flags and title (D:…/crm/deals/crm-deal-fields.md)."""
    out: dict[str, Any] = {}
    for spec in entity.described:
        if spec.name == "OBSERVERS":
            continue  # a crm.item member only
        entry = field_entry(spec)
        if spec.status_type:
            entry["statusType"] = spec.status_type
        out[spec.name] = entry
    return out


def _select(entity: Entity, wanted: Any) -> set[str]:
    names = [str(n).upper() for n in names_of(wanted)]
    if not names:
        names = ["*", "UF_*"]
    chosen = {n for n in names if n not in ("*", "UF_*")}
    if "*" in names:
        chosen |= {s.name for s in entity.fields if not s.multiple}
        chosen.add("*")
    if "UF_*" in names:
        chosen.add("UF_*")
    return chosen


def _views(portal: PortalLike, entity: Entity, where: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows to filter; with PHONE/EMAIL… in the filter, each row also carries its values of those types."""
    rows = [row for _, row in portal.table(entity.table)]
    if not entity.has_multifields or not any(_MULTI_KEY.search(str(key)) for key in where):
        return rows
    values: dict[int, dict[str, list[str]]] = {}
    for item in crm_store.all_multifields(portal, entity):
        values.setdefault(item["ELEMENT_ID"], {}).setdefault(item["TYPE_ID"], []).append(item["VALUE"])
    return [{**row, **values.get(int(row["ID"]), {})} for row in rows]


def _list(portal: PortalLike, entity: Entity, call: Call) -> Listed:
    def resolve(name: str) -> str | None:
        key = name.upper()
        return key if key in entity.spec or key.startswith("UF_") else None

    where = call.param("filter") or {}
    order = call.param("order") or {}
    if not isinstance(where, Mapping) or not isinstance(order, Mapping):
        raise legacy_error("Parameter 'filter' must be array.")
    try:
        query.matches({}, where, resolve)  # an unknown field is refused even when no row is there
        views = [view for view in _views(portal, entity, where) if query.matches(view, where, resolve)]
        table = portal.table(entity.table).rows
        rows = query.sort_rows([table[int(view["ID"])] for view in views], order, resolve)
    except RestError as exc:
        raise legacy_error(exc.description) from exc
    chosen = _select(entity, call.param("select"))
    got = query.page(rows, query.parse_start(call.param("start")))
    result = []
    for row in got.rows:
        keys = set(chosen)
        if "UF_*" in chosen:
            keys |= {k for k in row if k.startswith("UF_")}
        result.append(legacy_row(portal, entity, row, keys))
    return Listed(result, got.total, got.next)


def _register(entity: Entity) -> None:
    prefix = str(entity.legacy)

    def add(portal: PortalLike, call: Call) -> int:
        fields = _fields(call)
        return crm_store.create(portal, entity, fields, call, multi_items(entity, fields))

    def update(portal: PortalLike, call: Call) -> bool:
        row_id = require_id(call)
        row = crm_store.find(portal, entity, row_id)
        if row is None:
            raise legacy_error("Not found")
        fields = _fields(call)
        crm_store.set_multifields(portal, entity, row_id, multi_items(entity, fields))
        crm_store.update(portal, entity, row, fields, call)
        return True

    def get(portal: PortalLike, call: Call) -> dict[str, Any]:
        row = crm_store.find(portal, entity, require_id(call))
        if row is None:
            raise legacy_error("Not found")
        return legacy_row(portal, entity, row)

    def delete(portal: PortalLike, call: Call) -> bool:
        row_id = require_id(call)
        if crm_store.find(portal, entity, row_id) is None:
            raise legacy_error("Not found")
        crm_store.delete(portal, entity, row_id, call)
        return True

    def fields(portal: PortalLike, call: Call) -> dict[str, Any]:
        return fields_description(entity)

    def listing(portal: PortalLike, call: Call) -> Listed:
        return _list(portal, entity, call)

    handlers: dict[str, Callable[[PortalLike, Call], Any]] = {
        "add": add,
        "update": update,
        "get": get,
        "delete": delete,
        "fields": fields,
        "list": listing,
    }
    for action, handler in handlers.items():
        method(f"{prefix}.{action}", scope="crm")(handler)


for _entity in ENTITIES.values():
    if _entity.legacy:
        _register(_entity)
