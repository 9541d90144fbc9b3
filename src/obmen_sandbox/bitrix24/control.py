"""The control API under `/_sandbox`: reset, seed, dump, install apps, inject faults, move the clock.

Not part of Bitrix24; tests, the demo and benchmarks use it to arrange a portal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from obmen_sandbox.bitrix24 import crm, crm_store, stages
from obmen_sandbox.bitrix24.crm_schema import ENTITIES
from obmen_sandbox.bitrix24.registry import Call
from obmen_sandbox.bitrix24.wire import dumps

if TYPE_CHECKING:
    from obmen_sandbox.bitrix24.portal import Portal

__all__ = ["install_app", "routes", "seed"]

_BY_TABLE = {e.table: e for e in ENTITIES.values()}


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    return data


def _seed_crm(portal: Portal, table: str, row: Mapping[str, Any]) -> int:
    entity = _BY_TABLE[table]
    fields = {str(k).upper(): v for k, v in row.items()}
    call = Call("sandbox.seed", {}, user_id=int(fields.get("CREATED_BY_ID") or 1))
    new_id = crm_store.create(portal, entity, fields, call, crm.multi_items(entity, fields))
    wanted = fields.get("ID")
    if wanted is not None and int(wanted) != new_id:
        rows = portal.table(table).rows
        moved = rows.pop(new_id)
        moved["ID"] = int(wanted)
        rows[int(wanted)] = moved
        for item in portal.table("crm.multifield").rows.values():
            if item["ENTITY_ID"] == entity.name and item["ELEMENT_ID"] == new_id:
                item["ELEMENT_ID"] = int(wanted)
        portal.table(table).seed_ids_from(int(wanted) + 1)
        return int(wanted)
    return new_id


def _seed_raw(portal: Portal, table: str, row: Mapping[str, Any]) -> int:
    target = portal.table(table)
    key = "id" if "id" in row else "ID" if "ID" in row else None
    if key is None:
        new_id = target.add(row)
        id_key = "ID" if any(k.isupper() for k in row) else "id"
        target.rows[new_id][id_key] = new_id
        return new_id
    new_id = int(row[key])
    target.rows[new_id] = dict(row)
    target.seed_ids_from(new_id + 1)
    return new_id


def seed(portal: Portal, data: Mapping[str, Any]) -> dict[str, list[int]]:
    """Load users, pipelines and rows per table (CRM tables through the portal's own rules, no events)."""
    created: dict[str, list[int]] = {}
    for user in data.get("users", []):
        created.setdefault("user", []).append(portal.add_user(user))
    for pipe in data.get("pipelines", []):
        given = pipe.get("stages")
        stage_list = (
            None
            if given is None
            else [(s["statusId"], s.get("name", s["statusId"]), s.get("semantics")) for s in given]
        )
        stages.add_pipeline(
            portal,
            int(pipe.get("entityTypeId", 2)),
            int(pipe["id"]),
            str(pipe.get("name", f"Pipeline {pipe['id']}")),
            stage_list,
            sort=int(pipe.get("sort", 500)),
        )
    tables = dict(data.get("tables", {}))
    tables.update({k: v for k, v in data.items() if k not in ("users", "pipelines", "tables")})
    with portal.events.muted():
        for table, rows in tables.items():
            insert = _seed_crm if table in _BY_TABLE else _seed_raw
            created[table] = [insert(portal, table, row) for row in rows]
    return created


def install_app(portal: Portal, handler: str | None, events_handler: str | None) -> dict[str, Any]:
    """Install a local application; ONAPPINSTALL goes to `handler` (D:…/common/events/on-app-install.md)."""
    app = portal.auth.install(handler, events_handler)
    access, refresh = portal.auth.issue(app)
    if handler:
        auth = portal.events.auth_block(app, refresh=True)
        data = {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "ru"}
        portal.events.post_raw(
            handler, {"event": "ONAPPINSTALL", "data": data, "ts": int(portal.clock.now()), "auth": auth}
        )
    return {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "access_token": access,
        "refresh_token": refresh,
        "application_token": app.application_token,
        "member_id": portal.member_id,
        "domain": portal.domain,
    }


def _faults(portal: Portal, data: Mapping[str, Any]) -> dict[str, Any]:
    faults = portal.faults
    for name in ("error_rate", "latency", "timeout_rate", "timeout_seconds", "lost_rate"):
        if name in data:
            setattr(faults, name, float(data[name]))
    if "moved_to" in data:
        faults.moved_to = data["moved_to"] or None
    for flag in ("overload", "free_plan"):
        if flag in data:
            setattr(faults, flag, bool(data[flag]))
    events = data.get("events", {})
    for name in ("drop", "duplicate", "delay", "reorder", "reorder_seconds"):
        if name in events:
            setattr(portal.events.faults, name, float(events[name]))
    if "seed" in data:
        faults.rng.seed(int(data["seed"]))
        portal.events.faults.rng.seed(int(data["seed"]))
    return {"error_rate": faults.error_rate, "latency": faults.latency, "moved_to": faults.moved_to}


def dump(portal: Portal, tables: str | None = None) -> dict[str, Any]:
    """Every table, binding, queued offline record and delivery attempt; or only the named tables.

    `tables` (`crm.deal,crm.smart_invoice`) keeps a watcher that polls the portal from costing it the
    serialisation of everything it holds, events delivered included, on every look. A table nothing
    was written to yet is empty.
    """
    if tables:
        found = portal.tables()
        wanted = sorted({t.strip() for t in tables.split(",") if t.strip()})
        rows = {name: [row for _, row in found[name]] if name in found else [] for name in wanted}
        return {"clock": portal.clock.now(), "tables": rows}
    return {
        "clock": portal.clock.now(),
        "tables": {name: [row for _, row in table] for name, table in portal.tables().items()},
        "bindings": [vars(b) for b in portal.events.bindings],
        "offline": list(portal.events.offline.values()),
        "delivered": [{"url": u, "status": s} for u, _, s in portal.events.delivered],
    }


def routes() -> list[Route]:
    """The control routes."""

    async def handle(request: Request) -> Response:
        portal: Portal = request.app.state.portal
        action = request.path_params["action"]
        try:
            data = await _body(request) if request.method == "POST" else {}
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        if action == "reset":
            portal.reset()
            return _json({"ok": True})
        if action == "seed":
            return _json({"ids": seed(portal, data)})
        if action == "requests":
            return _json(portal.requests.as_json())
        if action == "dump":
            return _json(dump(portal, request.query_params.get("tables")))
        if action == "apps":
            answer = install_app(portal, data.get("handler"), data.get("events_handler"))
            portal.events.flush()
            return _json(answer)
        if action == "faults":
            return _json(_faults(portal, data))
        if action == "limits":
            if "operating_limit" in data:
                portal.limits.operating_limit = float(data["operating_limit"])
            portal.limits.costs.update({str(k).lower(): float(v) for k, v in data.get("costs", {}).items()})
            return _json({"plan": portal.limits.plan, "operating_limit": portal.limits.operating_limit})
        if action == "clock":
            clock = portal.clock
            if data.get("freeze") is True:
                clock.freeze(data.get("at"))
            elif data.get("freeze") is False:
                clock.resume()
            if data.get("advance"):
                clock.advance(float(data["advance"]))
            return _json({"now": clock.now(), "frozen": clock.frozen})
        return _json({"error": f"unknown control action {action}"}, 404)

    return [Route("/_sandbox/{action}", handle, methods=["GET", "POST"])]
