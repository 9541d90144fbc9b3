"""`obmen conflicts`: list open conflicts, or resolve one by a side's value or a value of one's own.

The decision is the dashboard's (`POST /api/conflicts/<id>/resolve`): it is journaled, the object is
enqueued, and a running worker writes the value to every system (docs/operations.md §7.1).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from obmen.cli.common import ConfigOption, console, fail, settings_from
from obmen.store import state
from obmen.store.database import Database

__all__ = ["conflicts_app"]

conflicts_app = typer.Typer(help="Open conflicts: list them, resolve one.", no_args_is_help=True)


async def _open(url: str) -> list[dict[str, Any]]:
    db = Database.connect(url)
    try:
        async with db.begin() as conn:
            return await state.open_conflicts(conn, "default")
    finally:
        await db.close()


@conflicts_app.command("list")
def list_(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Open conflicts, oldest first: id, object, field, each side's value, any decision waiting."""
    items = asyncio.run(_open(settings_from(config).database.url))
    if as_json:
        sys.stdout.write(json.dumps(items, ensure_ascii=False, default=str, indent=2) + "\n")
        return
    table = Table(
        "id", "object", "field", "candidates", "decided", title=f"Conflicts / конфликты: {len(items)}"
    )
    for c in items:
        candidates = ", ".join(
            f"{s}={json.dumps(v, ensure_ascii=False)}" for s, v in sorted(c["candidates"].items())
        )
        decided = (
            ""
            if c["decided_at"] is None
            else f"{json.dumps(c['decision'], ensure_ascii=False)} ({c['decided_by']})"
        )
        table.add_row(str(c["id"]), f"{c['entity']}:{c['canonical_id']}", c["field"], candidates, decided)
    console.print(table)


def _parse(raw: str, as_json: bool) -> Any:
    if not as_json:
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        fail(f"--value is not JSON ({exc}); drop --json for a plain text value")


@conflicts_app.command("resolve")
def resolve(
    conflict_id: Annotated[
        int, typer.Argument(metavar="ID", help="The conflict's id (`obmen conflicts list`).")
    ],
    side: Annotated[
        str | None, typer.Option("--side", help="Take this system's value: onec, site or bitrix24.")
    ] = None,
    value: Annotated[str | None, typer.Option("--value", help="Write this value everywhere instead.")] = None,
    value_json: Annotated[bool, typer.Option("--json", help="--value is JSON (a number, a list…).")] = False,
    config: ConfigOption = None,
) -> None:
    """Resolve conflict ID by a side's value (--side S) or a value of your own (--value V)."""
    if (side is None) == (value is None):
        fail("give either --side or --value / укажите --side или --value")
    settings = settings_from(config)
    chosen = None if value is None else _parse(value, value_json)

    async def decide() -> dict[str, Any]:
        db = Database.connect(settings.database.url)
        try:
            return await state.decide_conflict(
                db,
                "default",
                conflict_id,
                side=side,
                value=chosen,
                by=f"cli:{getpass.getuser()}",
                now=time.time(),
            )
        finally:
            await db.close()

    try:
        decided = asyncio.run(decide())
    except state.ConflictNotOpen as exc:
        fail(str(exc))
    shown = json.dumps(decided["decision"], ensure_ascii=False)
    console.print(
        f"conflict {conflict_id}: {decided['entity']}.{decided['field']} = {shown}; "
        "queued for the worker / поставлено в очередь",
        markup=False,
        highlight=False,
    )
