"""`catalog.section.add|update|get|list|delete`: the category tree of a catalog iblock (§5.7).

Sections nest through `iblockSectionId` within one iblock; `code` is unique per iblock; deleting a
section deletes its subtree and the products filed in it, as an iblock section delete does
(D:…/catalog/section/*). Error codes are the documented ones: `200700300030` no such section,
`200700300040` duplicate `code`, `200700300050` no such iblock, `200700300000`/`…10` a parent in another
iblock, `100` a missing `id`/`fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24.catalog_common import (
    FLAG,
    INT,
    STR,
    Listed,
    catalog_error,
    coerce_fields,
    fill,
    list_answer,
    project,
    require,
    require_fields,
)
from obmen_sandbox.bitrix24.catalog_variations import delete_products_in
from obmen_sandbox.bitrix24.registry import Call, PortalLike, Table, method

__all__ = ["SECTION_FIELDS", "section_ids_under"]

SECTION_FIELDS = (
    "id",
    "iblockId",
    "iblockSectionId",
    "name",
    "xmlId",
    "code",
    "sort",
    "active",
    "description",
    "descriptionType",
)
_KINDS = {
    "iblockId": INT,
    "iblockSectionId": INT,
    "name": STR,
    "xmlId": STR,
    "code": STR,
    "sort": INT,
    "active": FLAG,
    "description": STR,
    "descriptionType": STR,
}
NOT_FOUND = "200700300030"


def _sections(portal: PortalLike) -> Table:
    return portal.table("catalog.section")


def _section(portal: PortalLike, section_id: Any) -> dict[str, Any]:
    row = _sections(portal).get(section_id)
    if row is None:
        raise catalog_error(NOT_FOUND, "Section is not exists")
    return fill(int(section_id), row, SECTION_FIELDS, active="Y", sort=500, descriptionType="text")


def _check(portal: PortalLike, row: Mapping[str, Any], own_id: int | None, failure: str) -> None:
    """The iblock exists, the parent is in the same iblock and not inside the section, `code` is unique."""
    if portal.table("catalog.catalog").get(row["iblockId"]) is None:
        raise catalog_error("200700300050", f"Iblock {row['iblockId']} is not exists")
    parent_id = row.get("iblockSectionId")
    if parent_id:
        parent = _sections(portal).get(parent_id)
        if parent is None or parent["iblockId"] != row["iblockId"]:
            raise catalog_error(failure, "Parent section is not in the iblock of the section")
        if own_id is not None and parent_id in section_ids_under(portal, own_id):
            raise catalog_error(failure, "A section cannot be moved inside itself")
    code = row.get("code")
    for other_id, other in _sections(portal):
        if (
            code
            and other_id != own_id
            and other.get("iblockId") == row["iblockId"]
            and other.get("code") == code
        ):
            raise catalog_error("200700300040", f"Section code '{code}' is already used")


def section_ids_under(portal: PortalLike, section_id: int) -> set[int]:
    """The section and every section below it."""
    found = {section_id}
    grew = True
    while grew:
        below = {sid for sid, row in _sections(portal) if row.get("iblockSectionId") in found} - found
        found |= below
        grew = bool(below)
    return found


def _answer(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"section": project(row, (), SECTION_FIELDS)}


@method("catalog.section.add", scope="catalog")
def section_add(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Create a section (defaults: `sort` 500, `active` Y, top level)."""
    fields = coerce_fields(require(call, "fields"), _KINDS)
    require_fields(fields, ("iblockId", "name"))
    row = {"iblockSectionId": None, "xmlId": None, "code": None, "sort": 500, "active": "Y"}
    row |= {"description": None, "descriptionType": "text"} | fields
    row["iblockSectionId"] = row["iblockSectionId"] or None
    _check(portal, row, None, "200700300000")
    new_id = _sections(portal).add(row)
    stored = _sections(portal).rows[new_id]
    stored["id"] = new_id
    return _answer(stored)


@method("catalog.section.update", scope="catalog")
def section_update(portal: PortalLike, call: Call) -> dict[str, Any]:
    """Change a section; the docs mark `iblockId` and `name` required here too."""
    row = _section(portal, require(call, "id"))
    fields = coerce_fields(require(call, "fields"), _KINDS)
    require_fields(fields, ("iblockId", "name"))
    changed = {**row, **fields}
    changed["iblockSectionId"] = changed.get("iblockSectionId") or None
    if changed["iblockId"] != row["iblockId"]:
        raise catalog_error("200700300010", "A section cannot move to another iblock")
    _check(portal, changed, row["id"], "200700300010")
    row.update(changed)
    return _answer(row)


@method("catalog.section.get", scope="catalog")
def section_get(portal: PortalLike, call: Call) -> dict[str, Any]:
    """One section by id."""
    return _answer(_section(portal, require(call, "id")))


@method("catalog.section.list", scope="catalog")
def section_list(portal: PortalLike, call: Call) -> Listed:
    """Sections of one iblock (`filter.iblockId` is required, D:…/catalog-section-list.md)."""
    rows = [row for _, row in _sections(portal)]
    return list_answer(call, rows, "sections", SECTION_FIELDS, must_filter=("iblockId",))


@method("catalog.section.delete", scope="catalog")
def section_delete(portal: PortalLike, call: Call) -> bool:
    """Delete a section with its subsections and the products filed in them."""
    row = _section(portal, require(call, "id"))
    doomed = section_ids_under(portal, row["id"])
    delete_products_in(portal, call, doomed)
    for section_id in doomed:
        _sections(portal).delete(section_id)
    return True
