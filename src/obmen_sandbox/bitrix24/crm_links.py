"""`crm.deal.contact.items.get|set|delete`, `crm.deal.contact.add|delete` (docs/protocols/bitrix24.md §5.2).

The contacts of a deal are its CONTACT_IDS in order, the first one primary; changing them is an update
of the deal (its UPDATE event fires).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obmen_sandbox.bitrix24 import crm_store
from obmen_sandbox.bitrix24.crm import require_id
from obmen_sandbox.bitrix24.crm_schema import ENTITIES
from obmen_sandbox.bitrix24.crm_values import to_int
from obmen_sandbox.bitrix24.registry import Call, PortalLike, legacy_error, method

__all__: list[str] = []

_DEAL = ENTITIES["DEAL"]


def _deal(portal: PortalLike, call: Call) -> dict[str, Any]:
    row = crm_store.find(portal, _DEAL, require_id(call))
    if row is None:
        raise legacy_error("Not found")
    return row


def _contact_id(portal: PortalLike, entry: Any) -> int:
    contact = to_int(entry.get("CONTACT_ID")) if isinstance(entry, Mapping) else None
    if not contact or crm_store.find(portal, ENTITIES["CONTACT"], contact) is None:
        raise legacy_error("The parameter CONTACT_ID is invalid or not defined.")
    return contact


def _save(portal: PortalLike, row: dict[str, Any], ids: list[int], call: Call) -> bool:
    crm_store.update(portal, _DEAL, row, {"CONTACT_IDS": ids}, call)
    return True


@method("crm.deal.contact.items.get", scope="crm")
def items_get(portal: PortalLike, call: Call) -> list[dict[str, Any]]:
    """The deal's contacts: CONTACT_ID, SORT, ROLE_ID, IS_PRIMARY."""
    ids = _deal(portal, call).get("CONTACT_IDS") or []
    return [
        {"CONTACT_ID": cid, "SORT": (n + 1) * 10, "ROLE_ID": 0, "IS_PRIMARY": "Y" if n == 0 else "N"}
        for n, cid in enumerate(ids)
    ]


@method("crm.deal.contact.items.set", scope="crm")
def items_set(portal: PortalLike, call: Call) -> bool:
    """Replace the deal's contacts; the one marked IS_PRIMARY=Y (else the first by SORT) leads."""
    row = _deal(portal, call)
    raw = call.param("items") or []
    entries = list(raw.values()) if isinstance(raw, Mapping) else raw if isinstance(raw, list) else []
    ordered = sorted(
        (
            (to_int(e.get("SORT")) or 0, _contact_id(portal, e), str(e.get("IS_PRIMARY", "")).upper() == "Y")
            for e in entries
        ),
        key=lambda item: (not item[2], item[0]),
    )
    return _save(portal, row, [cid for _, cid, _ in ordered], call)


@method("crm.deal.contact.items.delete", scope="crm")
def items_delete(portal: PortalLike, call: Call) -> bool:
    """Unlink every contact from the deal."""
    return _save(portal, _deal(portal, call), [], call)


@method("crm.deal.contact.add", scope="crm")
def contact_add(portal: PortalLike, call: Call) -> bool:
    """Link one contact (`fields{CONTACT_ID, SORT?, IS_PRIMARY?}`)."""
    row = _deal(portal, call)
    fields = call.param("fields") or {}
    contact = _contact_id(portal, fields)
    ids = [cid for cid in row.get("CONTACT_IDS") or [] if cid != contact]
    primary = str(fields.get("IS_PRIMARY", "")).upper() == "Y" if isinstance(fields, Mapping) else False
    return _save(portal, row, [contact, *ids] if primary or not ids else [*ids, contact], call)


@method("crm.deal.contact.delete", scope="crm")
def contact_delete(portal: PortalLike, call: Call) -> bool:
    """Unlink one contact (`fields{CONTACT_ID}`)."""
    row = _deal(portal, call)
    contact = _contact_id(portal, call.param("fields") or {})
    return _save(portal, row, [cid for cid in row.get("CONTACT_IDS") or [] if cid != contact], call)
