"""Dictionaries and lookups: `crm.category.list|get`, `crm.status.list`, `crm.status.entity.types`,
`crm.duplicate.findbycomm` (docs/protocols/bitrix24.md §5.3, §5.4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24 import crm_store, query, stages
from obmen_sandbox.bitrix24.crm_schema import ENTITIES
from obmen_sandbox.bitrix24.crm_values import legacy_value, to_int
from obmen_sandbox.bitrix24.registry import Call, Listed, PortalLike, RestError, legacy_error, method

__all__: list[str] = []

_CATEGORY_TYPES = (2, 31, 3, 4)
_ENTITY_NAMES = {"STATUS": "Статусы", "SOURCE": "Источники", "DEAL_TYPE": "Тип сделки"}


def _category_type(call: Call) -> int:
    type_id = to_int(call.param("entityTypeId"))
    if type_id not in _CATEGORY_TYPES:
        raise RestError(
            "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type `{call.param('entityTypeId')}` is not supported"
        )
    return int(type_id)


@method("crm.category.list", scope="crm")
def category_list(portal: PortalLike, call: Call) -> Listed:
    """Pipelines of an entity type (`{"categories": [...]}`)."""
    rows = [dict(row) for row in stages.categories_of(portal, _category_type(call))]
    return Listed({"categories": rows}, len(rows), None)


@method("crm.category.get", scope="crm")
def category_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One pipeline."""
    type_id = _category_type(call)
    wanted = to_int(call.param("id"))
    for row in stages.categories_of(portal, type_id):
        if int(row["id"]) == wanted:
            return {"category": dict(row)}
    raise RestError("NOT_FOUND", "Category not found")


def _status_resolve(name: str) -> str | None:
    upper = name.upper()
    return (
        upper
        if upper in ("ID", "ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SYSTEM", "CATEGORY_ID", "SEMANTICS")
        else None
    )


@method("crm.status.list", scope="crm")
def status_list(portal: PortalLike, call: Call) -> Listed:
    """Stages and dictionary entries as legacy strings (ID, ENTITY_ID, STATUS_ID, NAME, SORT, SEMANTICS…)."""
    where = call.param("filter") or {}
    order = call.param("order") or {}
    if not isinstance(where, Mapping) or not isinstance(order, Mapping):
        raise legacy_error("Parameter 'filter' must be array.")
    try:
        rows = [row for _, row in portal.table("crm.status") if query.matches(row, where, _status_resolve)]
        rows = query.sort_rows(rows, order, _status_resolve)
    except RestError as exc:
        raise legacy_error(exc.description) from exc
    out = [{k: v if k == "EXTRA" else legacy_value(None, v) for k, v in row.items()} for row in rows]
    return Listed(out, len(out), None)


def _semantic_info(rows: list[dict[str, Any]]) -> dict[str, Any]:
    success = next((r for r in rows if r["SEMANTICS"] == "S"), None)
    failure = next((r for r in rows if r["SEMANTICS"] == "F"), None)
    return {
        "START_FIELD": rows[0]["STATUS_ID"] if rows else "",
        "FINAL_SUCCESS_FIELD": success["STATUS_ID"] if success else "",
        "FINAL_UNSUCCESS_FIELD": failure["STATUS_ID"] if failure else "",
        "FINAL_SORT": success["SORT"] if success else 0,
    }


@method("crm.status.entity.types", scope="crm")
def status_entity_types(portal: PortalLike, call: Call) -> list[dict[str, Any]]:
    """Stage dictionaries (with PREFIX and SEMANTIC_INFO) and plain dictionaries."""
    out: list[dict[str, Any]] = []
    pipelines = [(1, 0, "Статусы лидов")]
    for type_id in (2, 31):
        pipelines += [(type_id, int(r["id"]), str(r["name"])) for r in stages.categories_of(portal, type_id)]
    for type_id, category, name in pipelines:
        rows = stages.stages_of(portal, type_id, category)
        entry: dict[str, Any] = {"ID": stages.entity_id_for(type_id, category), "NAME": name}
        entry["SEMANTIC_INFO"] = _semantic_info(rows)
        entry["PREFIX"] = stages.prefix_for(type_id, category)
        entry["ENTITY_TYPE_ID"] = type_id
        if type_id != 1:
            entry["CATEGORY_ID"] = category
        out.append(entry)
    for entity_id in stages.DICTIONARIES:
        out.append({"ID": entity_id, "NAME": _ENTITY_NAMES.get(entity_id, entity_id)})
    return out


def _digits(value: str) -> str:
    # The extension after a comma, ";" or "доб." is ignored (D:…/crm-duplicate-find-by-comm.md).
    main = re.split(r"[,;]|доб|ext", value, maxsplit=1, flags=re.IGNORECASE)[0]
    digits = re.sub(r"\D", "", main)
    return "7" + digits[1:] if len(digits) == 11 and digits.startswith("8") else digits


@method("crm.duplicate.findbycomm", scope="crm")
def find_by_comm(portal: PortalLike, call: Call) -> dict[str, list[int]]:
    """Leads, contacts and companies with one of the phones or e-mails (≤ 20 values)."""
    kind = str(call.param("type") or "").upper()
    if not kind:
        raise RestError("Communication type is not defined", "Parameter 'type' is required.")
    if kind not in ("EMAIL", "PHONE"):
        raise RestError("", f"Communication type '{kind}' is not supported in current context.")
    raw = call.param("values")
    values = list(raw.values()) if isinstance(raw, Mapping) else raw if isinstance(raw, list) else []
    if not values:
        raise RestError("", "Communication values is not defined.")
    if len(values) > 20:
        raise RestError("", "Too many communication values.")
    norm = _digits if kind == "PHONE" else str.casefold
    wanted = {norm(str(v).strip()) for v in values}
    only = str(call.param("entity_type") or "").upper()
    found: dict[str, list[int]] = {}
    for name in ("LEAD", "CONTACT", "COMPANY"):
        if only and only != name:
            continue
        entity = ENTITIES[name]
        ids = sorted(
            {
                int(item["ELEMENT_ID"])
                for item in portal.table("crm.multifield").rows.values()
                if item["ENTITY_ID"] == name
                and item["TYPE_ID"] == kind
                and norm(str(item["VALUE"])) in wanted
                and crm_store.find(portal, entity, item["ELEMENT_ID"]) is not None
            }
        )
        if ids:
            found[name] = ids
    return found
