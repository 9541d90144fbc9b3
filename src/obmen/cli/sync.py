"""`obmen sync`: an initial load or resync (`--full [ENTITY…]`) or single objects (`KEY…`), with progress.

The keys are enqueued here and reconciled by whichever worker holds the tenant's lease (`obmen run` or
`obmen worker`, in any process); when none is alive, this process works them itself until the load is
done. The progress is read from the store (`store.progress`), as `/api/progress` and `/metrics` read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from obmen.cli.common import (
    ConfigOption,
    console,
    fail,
    interruptible,
    log_to_stderr,
    migrated,
    settings_from,
)
from obmen.config.settings import Settings
from obmen.errors import ObmenError
from obmen.store.queue import NewItem

if TYPE_CHECKING:
    from obmen.app.runtime import Runtime
    from obmen.store.progress import Load

__all__ = ["sync"]

#: How often the progress is read from the store.
REFRESH = 0.5


def sync(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="With --full: the entities to load (all when none: product, offer, order…). "
            "Without: the objects, as entity:system:external_id (order:site:132) or entity:canonical_id.",
            show_default=False,
            metavar="KEY|ENTITY",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Every object of the entities, in every system.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Show the progress until done, or only enqueue.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the finished load as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Load everything (`--full`, an initial load or a resync) or the objects named, showing the progress."""
    settings = settings_from(config)
    migrated(settings)
    if not full and not targets:
        fail("name the objects to sync (order:site:132), or pass --full / укажите объекты или --full")
    items = [] if full else _keys(targets or [])
    interruptible()
    try:
        load = asyncio.run(_sync(settings, items, targets or [], full=full, wait=wait, quiet=as_json))
    except KeyboardInterrupt:
        # The keys are in the queue: the workers go on with them, and the progress stays readable.
        sys.stderr.write("obmen: stopped watching; the load goes on in the workers / загрузка продолжается\n")
        raise typer.Exit(130) from None
    if as_json:
        sys.stdout.write(json.dumps(load.as_json(time.time()), ensure_ascii=False) + "\n")


def _keys(targets: list[str]) -> list[NewItem]:
    from obmen.engine.loads import TRIGGER
    from obmen.store.timeline import parse_key, parse_target

    items: list[NewItem] = []
    for target in targets:
        try:
            entity, key = parse_target(target)
        except ValueError as exc:
            fail(str(exc))
        system, ident = parse_key(key)
        if system is None:
            items.append(NewItem(entity, canonical_id=ident, trigger=TRIGGER))
        else:
            items.append(NewItem(entity, system=system, external_id=ident, trigger=TRIGGER))
    return items


async def _sync(
    settings: Settings, items: list[NewItem], targets: list[str], *, full: bool, wait: bool, quiet: bool
) -> Load:
    from obmen.app.runtime import build_runtime
    from obmen.engine.loads import full_load, load_keys, working

    runtime = await build_runtime(settings)
    try:
        if not runtime.connectors:
            fail("no system is connected: configure [onec], [site] or [bitrix24] (`obmen check` tells more)")
        engine = runtime.engine
        try:
            if full:
                load = await full_load(engine, targets)
            else:
                load = await load_keys(engine, items)
        except ValueError as exc:
            fail(str(exc))
        except ObmenError as exc:
            fail(f"{type(exc).__name__}: {exc}")
        if not wait:
            console.print(f"load {load.name}: {load.total} keys enqueued / ключей в очереди")
            return load
        holder = await working(engine)
        if not quiet:
            console.print(f"load {load.name}: {load.total} keys / ключей", highlight=False, soft_wrap=True)
            console.print(
                "no worker is running: working here / воркер не запущен, работаю здесь"
                if holder is None
                else f"the worker {holder} reconciles them / их обрабатывает {holder}",
                highlight=False,
                soft_wrap=True,
            )
        return await _watch(runtime, load.name, work=holder is None, quiet=quiet)
    finally:
        await runtime.aclose()


async def _watch(runtime: Runtime, name: str, *, work: bool, quiet: bool) -> Load:
    """Show the load's bar until it is finished; with `work`, run the loops here meanwhile."""
    from obmen.store.progress import read_loads

    stop = asyncio.Event()
    if work:
        log_to_stderr(runtime.settings)
    loops = asyncio.create_task(runtime.run(stop, resync_now=False)) if work else None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}/s"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, disable=quiet) as bar:
            task = bar.add_task(name, total=None, rate="–", eta="–")
            while True:
                [load] = await read_loads(runtime.db, runtime.engine.tenant, names=[name])
                now = time.time()
                eta = load.eta(now)
                bar.update(
                    task,
                    total=load.total or None,
                    completed=load.done,
                    description=f"{name} ({', '.join(load.entities)})"
                    + (" scanning…" if load.scanning else ""),
                    rate=f"{load.rate(now):.1f}",
                    eta="–" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta)),
                )
                if load.finished:
                    return load
                if loops is not None and loops.done():
                    loops.result()  # the loops ended by themselves: say why
                    fail("the worker stopped before the load was done / воркер остановился")
                await asyncio.sleep(REFRESH)
    finally:
        stop.set()
        if loops is not None:
            with contextlib.suppress(Exception):
                await loops
