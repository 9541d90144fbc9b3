"""What a portal has that `[mapping]` names, read in two requests: `obmen check` checks it and keeps it for
the dashboard's mapping page, so that "C2:WON · Сделка успешна" shows beside the row that maps to it.

The first `batch` reads the deal and smart-invoice pipelines (`crm.category.list`, docs/protocols/bitrix24.md
§5.3, §5.5), the active users and the mapped managers (`user.get`, §5.6), the stores (`catalog.store.list`,
§5.7) and the deal fields (`crm.deal.fields`); the second reads every pipeline's stages (`crm.status.list`
by `ENTITY_ID`, §5.3), up to 50 pipelines a request (§4). Nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from obmen.connectors.bitrix24.client.rest import Bitrix24Client, Call
from obmen.errors import ObmenError

__all__ = ["DEAL", "INVOICE", "PortalRead", "read_portal"]

#: The CRM's entity type ids of deals and smart invoices (§5.5).
DEAL, INVOICE = 2, 31


@dataclass
class PortalRead:
    """What was read (`facts`: the JSON kept in the store) and the parts a refusal left out, with why."""

    facts: dict[str, Any]
    refused: dict[str, ObmenError] = field(default_factory=dict)


async def read_portal(client: Bitrix24Client, managers: Iterable[int] = ()) -> PortalRead:
    """The deal pipelines with their stages, the invoice pipelines with theirs, the users (the first page of
    the active ones and the mapped `managers`), the stores and the deal fields. A refused read of the deal
    pipelines or their stages fails the whole (`ObmenError`); one of the rest leaves its part out."""
    first: dict[str, Call] = {
        "deals": ("crm.category.list", {"entityTypeId": DEAL}),
        "invoices": ("crm.category.list", {"entityTypeId": INVOICE}),
        "users": ("user.get", {"FILTER": {"ACTIVE": True}}),
        "stores": ("catalog.store.list", {"select": ["id", "title"]}),
        "fields": ("crm.deal.fields", {}),
    }
    wanted = sorted(set(managers))
    if wanted:
        first["managers"] = ("user.get", {"FILTER": {"@ID": wanted}})
    reply = await client.batch(first)
    results, errors = reply.results, reply.errors
    if "deals" in errors:
        raise errors["deals"]
    deals = {"0": ""} | _categories(results.get("deals"))  # the default pipeline is always 0 (§5.3)
    invoices = {} if "invoices" in errors else _categories(results.get("invoices"))
    entities = [_deal_stages(c) for c in deals] + [_invoice_stages(c) for c in invoices]
    calls: list[Call] = [("crm.status.list", {"filter": {"ENTITY_ID": e}}) for e in entities]
    stages = dict(zip(entities, await client.call_many(calls), strict=True))
    read = PortalRead({})
    read.facts["pipelines"] = {
        c: {"name": name, "stages": _stages(stages[_deal_stages(c)])} for c, name in deals.items()
    }
    invoice_refusal = errors.get("invoices") or next(
        (r for e, r in stages.items() if e.startswith("SMART") and isinstance(r, ObmenError)), None
    )
    if invoice_refusal is not None:
        read.refused["invoice_pipelines"] = invoice_refusal
    else:
        defaults = _defaults(results.get("invoices"))
        read.facts["invoice_pipelines"] = {
            c: {"name": name, "default": c in defaults, "stages": _stages(stages[_invoice_stages(c)])}
            for c, name in invoices.items()
        }
    for part, (names, parse) in _PARTS.items():
        refusal = next((errors[n] for n in names if n in errors), None)
        if refusal is not None:
            read.refused[part] = refusal
        else:
            read.facts[part] = parse([results.get(n) for n in names])
    return read


def _deal_stages(category: str) -> str:
    return "DEAL_STAGE" if category == "0" else f"DEAL_STAGE_{category}"


def _invoice_stages(category: str) -> str:
    return f"SMART_INVOICE_STAGE_{category}"


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def _under(value: Any, key: str) -> list[Mapping[str, Any]]:
    return _list(value.get(key)) if isinstance(value, Mapping) else []


def _categories(result: Any) -> dict[str, str]:
    """`crm.category.list`'s pipelines: id → name."""
    return {str(r.get("id")): str(r.get("name") or "") for r in _under(result, "categories")}


def _defaults(result: Any) -> set[str]:
    return {str(r.get("id")) for r in _under(result, "categories") if r.get("isDefault") in ("Y", True)}


def _stages(result: Any) -> dict[str, str]:
    """`crm.status.list`'s stages: `STATUS_ID` → name; a refused read raises its error."""
    if isinstance(result, ObmenError):
        raise result
    return {str(r.get("STATUS_ID")): str(r.get("NAME") or "") for r in _list(result)}


def _users(results: list[Any]) -> dict[str, str]:
    return {str(u.get("ID")): _person(u) for result in results for u in _list(result)}


def _stores(results: list[Any]) -> dict[str, str]:
    return {str(r.get("id")): str(r.get("title") or "") for r in _under(results[0], "stores")}


def _fields(results: list[Any]) -> dict[str, str]:
    fields = results[0] if isinstance(results[0], Mapping) else {}
    return {str(k): _title(k, v) for k, v in fields.items()}


#: The parts read beside the pipelines: the batch commands each is read from, and how.
_PARTS: Mapping[str, tuple[tuple[str, ...], Callable[[list[Any]], dict[str, str]]]] = {
    "users": (("users", "managers"), _users),
    "stores": (("stores",), _stores),
    "deal_fields": (("fields",), _fields),
}


def _person(row: Mapping[str, Any]) -> str:
    name = " ".join(str(row.get(k) or "") for k in ("NAME", "LAST_NAME")).strip()
    return name or str(row.get("EMAIL") or row.get("ID"))


def _title(key: Any, field: Any) -> str:
    if not isinstance(field, Mapping):
        return str(key)
    return str(field.get("formLabel") or field.get("listLabel") or field.get("title") or key)
