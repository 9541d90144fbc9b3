"""`obmen run` (everything the configuration names, in one process), `serve`, `worker` and `demo`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from obmen.cli.common import ConfigOption, fail, interruptible, log_to_stderr, migrated, settings_from
from obmen.config.settings import Settings, exposure
from obmen.errors import ObmenError

if TYPE_CHECKING:
    from obmen.demo.activity import Activity, Propagation
    from obmen.demo.stack import Stack

__all__ = ["demo_command", "run", "run_runtime", "serve", "worker"]

console = Console()


async def run_runtime(settings: Settings, *, web: bool = True, loops: bool = True) -> None:
    """`obmen run`, `serve` and `worker` (`obmen.app.runtime.serve`, imported late: `--help` stays quick)."""
    from obmen.app.runtime import serve

    await serve(settings, web=web, loops=loops)


def _refuse_open_dashboard(settings: Settings) -> None:
    problem = exposure(settings.web)
    if problem:
        fail(problem)


def _serve(settings: Settings, *, web: bool = True, loops: bool = True) -> None:
    """Run until a signal; an expected failure (a refused connection, a bad mapping) is one line, exit 2."""
    from obmen.app.loop import run as run_loop

    try:
        run_loop(run_runtime(settings, web=web, loops=loops))
    except ObmenError as exc:
        fail(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        return


def run(config: ConfigOption = None) -> None:
    """Everything the configuration names, in one process: web app, worker, scheduler, site exchange."""
    settings = settings_from(config)
    _refuse_open_dashboard(settings)
    migrated(settings, migrate=True)
    log_to_stderr(settings)
    _serve(settings)


def serve(config: ConfigOption = None) -> None:
    """The web app: 1C exchange endpoint, Bitrix24 hooks, status page, /healthz, /readyz, /metrics."""
    settings = settings_from(config)
    _refuse_open_dashboard(settings)
    migrated(settings)
    log_to_stderr(settings)
    _serve(settings, loops=False)


def worker(config: ConfigOption = None) -> None:
    """Claim and reconcile work until SIGTERM or SIGINT; in-flight batches finish first."""
    settings = settings_from(config)
    log_to_stderr(settings)
    if not (settings.onec.login or settings.site.exchange_url or settings.bitrix24.portal):
        fail("no system to sync: configure [onec], [site] or [bitrix24] (see obmen.example.toml)")
    migrated(settings)
    _serve(settings, web=False)


def demo_command(
    state_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database, obmen.toml and endpoints.json.")
    ] = Path("state/demo"),
    activity: Annotated[
        bool,
        typer.Option(
            "--activity/--no-activity",
            help="Play a shop's day, or load the catalog and keep the stack running until Ctrl+C.",
        ),
    ] = True,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh",
            help="Start anew instead of resuming a demo that runs in --state-dir (refused while one runs: "
            "stop it first).",
        ),
    ] = False,
    exchange_only: Annotated[
        bool,
        typer.Option(
            "--exchange-only",
            help="Reach the site and 1C through the CommerceML exchange only (site.mode and onec.mode "
            "\"exchange\"), instead of the site's REST and events and 1C's OData with its ping extension.",
        ),
    ] = False,
) -> None:
    """Start the three sandboxes and obmen, load the catalog from 1C, play a day of activity.

    By default obmen reaches the site through its REST and events and 1C through OData with the ObmenPing
    extension; --exchange-only runs the CommerceML exchanges instead. A --state-dir where a demo still runs
    is resumed: the day is played against that stack (in the modes it was started with). One where a demo
    ran and stopped starts anew, saying so: the sandboxes kept their data in memory, and what obmen knew
    of them would only point at objects that are gone.
    """
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    interruptible()
    from obmen.demo.stack import live_demo, stopped_demo

    running = live_demo(state_dir)
    if running is not None and fresh:
        fail(f"a demo still runs in {state_dir} (obmen pid {running['pids']['obmen']}): stop it first")
    stopped = stopped_demo(state_dir) if running is None else None
    if stopped is not None:
        _anew(state_dir, stopped, fresh=fresh)
    with contextlib.suppress(KeyboardInterrupt):
        if running:
            asyncio.run(_resume(state_dir, running, activity))
        else:
            asyncio.run(_demo(state_dir, activity, exchange_only=exchange_only))


def _anew(state_dir: Path, stopped: dict[str, Any], *, fresh: bool) -> None:
    """Say that the stopped demo in `state_dir` is replaced, and why."""
    pid = (stopped.get("pids") or {}).get("obmen")
    why = (
        "--fresh"
        if fresh
        else "its sandboxes kept their data in memory only / песочницы хранили данные только в памяти"
    )
    console.print(
        f"the demo in {state_dir} has stopped (obmen pid {pid} is gone): starting anew in the same folder "
        f"({why}) / демо в {state_dir} остановлено: начинаю заново в той же папке",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _shown(seen: Propagation) -> None:
    via = f"  ({seen.path})" if seen.path else ""
    line = f"  [{seen.flow}] {seen.what}: {seen.seconds * 1000:.0f} ms{via}"
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _said(text: str) -> None:
    console.print(f"  {text}", markup=False, highlight=False, soft_wrap=True)


async def _play(stack: Stack, *, activity: bool) -> Activity:
    """The day (or, without activity, the catalog load) against a running stack, its lines printed."""
    import httpx

    from obmen.demo.activity import Activity

    async with httpx.AsyncClient(timeout=60) as http:
        script = Activity(stack, http, report=_shown, note=_said, comment_conflicts=True)
        await (script.play() if activity else script.catalog())
    return script


def _table(script: Activity) -> None:
    table = Table(
        "flow / поток",
        "what / что",
        "path / путь",
        "latency / задержка, ms",
        title="Propagations / распространение",
    )
    for seen in script.log:
        table.add_row(seen.flow, seen.what, seen.path, f"{seen.seconds * 1000:.0f}")
    console.print(table)
    for gap in script.gaps:
        _said(gap)


def _where(state_dir: Path, stack: Stack) -> None:
    console.print(f"obmen: {stack.obmen}  (endpoints: {state_dir / 'endpoints.json'})", highlight=False)
    console.print(
        f"site.mode = {stack.site_mode}, onec.mode = {stack.onec_mode} "
        f"/ сайт: {stack.site_mode}, 1С: {stack.onec_mode}",
        markup=False,
        highlight=False,
    )
    console.print(
        f"config / конфигурация: obmen status|check|sync --config {stack.config}",
        markup=False,
        highlight=False,
    )


async def _demo(state_dir: Path, activity: bool, *, exchange_only: bool = False) -> None:
    from obmen.demo.stack import DEMO, running_stack

    def said(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    tuning = DEMO.exchange_only() if exchange_only else DEMO
    async with running_stack(state_dir, tuning=tuning, say=said) as stack:
        _where(state_dir, stack)
        script = await _play(stack, activity=activity)
        if not activity:
            console.print("running; Ctrl+C stops / работает; Ctrl+C — остановить")
            await asyncio.Event().wait()
        _table(script)
    # The stack stops with this command: no URL of it is printed after this line.
    console.print(
        "the demo's stack has stopped; `obmen demo --no-activity` keeps one running "
        "/ стенд остановлен; `obmen demo --no-activity` оставляет его работать",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


async def _resume(state_dir: Path, endpoints: dict[str, Any], activity: bool) -> None:
    """A demo already runs in `state_dir`: play against it rather than wipe it."""
    from obmen.demo.stack import Stack

    stack = Stack.from_endpoints(endpoints)
    console.print(
        f"a demo runs in {state_dir} (obmen pid {stack.pids.get('obmen')}): resuming it / продолжаю"
    )
    _where(state_dir, stack)
    if not activity:
        return
    _table(await _play(stack, activity=True))
