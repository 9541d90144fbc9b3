"""`obmen status`: the queue, parked items, conflicts and checkpoints, or one object's timeline."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from obmen.cli.common import ConfigOption, console, fail, migrated, settings_from
from obmen.config.settings import Settings
from obmen.store.database import Database
from obmen.store.status import read_status

__all__ = ["status"]


def status(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    timeline_of: Annotated[
        str | None,
        typer.Option(
            "--timeline",
            help="What happened to one object: entity:canonical_id or entity:system:external_id "
            "(order:site:132).",
        ),
    ] = None,
) -> None:
    """Queue depth, parked items, open conflicts and per-source checkpoints; or one object's timeline."""

    settings = settings_from(config)
    migrated(settings)
    if timeline_of is not None:
        _timeline(settings, timeline_of, as_json=as_json)
        return

    async def read() -> Any:
        db = Database.connect(settings.database.url)
        try:
            return await read_status(db, "default", now=time.time())
        finally:
            await db.close()

    snapshot = asyncio.run(read())
    if as_json:
        from obmen.web.app import status_json

        sys.stdout.write(json.dumps(status_json(snapshot), ensure_ascii=False, default=str, indent=2) + "\n")
        return
    from obmen.web.api import refusal_text

    for outage in snapshot.outages:
        # First and in red: while a system refuses, its work waits (docs/architecture.md §2.13).
        console.print(
            f"✘ {refusal_text(outage)}", style="bold red", markup=False, highlight=False, soft_wrap=True
        )
    queue = Table("entity", "state", "items", title=f"Queue / очередь: {snapshot.depth}")
    for (entity, state), count in sorted(snapshot.queue.items()):
        queue.add_row(entity, state, str(count))
    console.print(queue)
    parked = Table("key", "attempts", "reason", title=f"Parked / отложено: {snapshot.parked_total}")
    for item in snapshot.parked:
        parked.add_row(item["key"], str(item["attempts"]), item["reason"])
    console.print(parked)
    waiting = Table("key", "waits for", "since", title=f"Waiting / ожидают: {snapshot.waiting_total}")
    for item in snapshot.waiting:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["since"]))
        waiting.add_row(item["key"], str(item["waits_for"]), since)
    console.print(waiting)
    conflicts = Table(
        "entity", "object", "field", "candidates", title=f"Conflicts / конфликты: {snapshot.conflicts_total}"
    )
    for c in snapshot.conflicts:
        conflicts.add_row(c["entity"], c["canonical_id"], c["field"], c["candidates"])
    console.print(conflicts)
    if snapshot.loads:
        loads = Table("load", "entities", "done", "total", "ETA, s", title="Loads / загрузки")
        now = time.time()
        for load in snapshot.loads[:5]:
            eta = load.eta(now)
            done = "finished / готово" if load.finished else str(load.done)
            loads.add_row(
                load.name,
                ", ".join(load.entities),
                done,
                str(load.total),
                "–" if eta is None else f"{eta:.0f}",
            )
        console.print(loads)
    _leases(snapshot.leases)
    checkpoints = Table("source", "checkpoint", "updated", title="Checkpoints / контрольные точки")
    for cp in snapshot.checkpoints:
        checkpoints.add_row(
            cp["source"],
            str(cp["value"]),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(cp["updated_at"])),
        )
    console.print(checkpoints)


def lease_state(state: str) -> str:
    """A lease's state in the dashboard's words, in both languages (docs/operations.md §10)."""
    from obmen.web.i18n import both

    return both(f"lease.{state}")


def _stamp(at: float | None) -> str:
    return "–" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _leases(leases: list[dict[str, Any]]) -> None:
    """Who holds each loop's lease since when, its last tick, and whether it is stalled."""
    table = Table(title="Leases / аренды (loops / циклы)")
    for head in ("loop", "holder", "since", "last tick", "doing", "state"):
        table.add_column(head, overflow="fold")  # a holder's name is read whole, never cut short
    for lease in leases:
        tick = "–" if lease["tick_age"] is None else f"{lease['tick_age']:.0f} s ago / назад"
        table.add_row(
            lease["name"],
            lease["holder"],
            _stamp(lease["since"]),
            tick,
            lease["doing"] or "",
            lease_state(lease["state"]),
        )
    console.print(table)
    for lease in leases:
        if lease["state"] == "stalled":
            name, holder = escape(lease["name"]), escape(lease["holder"])
            doing = escape(lease["doing"] or "no step told")
            console.print(
                f"[bold red]{name}: held by {holder} but its loop has not moved for "
                f"{lease['tick_age']:.0f} s ({doing}) / цикл держит аренду, но не продвигается[/]",
                soft_wrap=True,
            )


def _timeline(settings: Settings, target: str, *, as_json: bool) -> None:
    """Print what happened to one object; exit code 1 when obmen knows nothing of it."""
    from obmen.store.timeline import parse_target, timeline, timeline_json, timeline_lines

    try:
        entity, key = parse_target(target)
    except ValueError as exc:
        fail(str(exc))

    async def story() -> Any:
        db = Database.connect(settings.database.url)
        try:
            return await timeline(db, "default", entity, key)
        finally:
            await db.close()

    found = asyncio.run(story())
    if as_json:
        sys.stdout.write(json.dumps(timeline_json(found), ensure_ascii=False, default=str, indent=2) + "\n")
    else:
        for line in timeline_lines(found):
            console.print(line, markup=False, highlight=False)
    if not found.found:
        raise typer.Exit(1)
