"""`obmen run` (everything the configuration names, in one process) and `obmen demo`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from obmen.config import Settings

__all__ = ["demo_command", "run_runtime"]

console = Console()


async def run_runtime(settings: Settings, *, web: bool = True, loops: bool = True) -> None:
    """`obmen run`, `serve` and `worker` (`obmen.runtime.serve`, imported late: `--help` stays quick)."""
    from obmen.runtime import serve

    await serve(settings, web=web, loops=loops)


def demo_command(
    state_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its database and endpoints.json.")
    ] = Path("state/demo"),
    activity: Annotated[
        bool, typer.Option("--activity/--no-activity", help="Play the script, or just run the stack.")
    ] = True,
) -> None:
    """Start the three sandboxes and obmen, load the catalog through 1C, play a day of activity."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(state_dir, activity))


async def _demo(state_dir: Path, activity: bool) -> None:
    import httpx

    from obmen.demo import running_stack
    from obmen.demo_activity import Activity, Propagation

    async with running_stack(state_dir) as stack:
        console.print(f"obmen: {stack.obmen}  (endpoints: {state_dir / 'endpoints.json'})")
        if not activity:
            console.print("running; Ctrl+C stops / работает; Ctrl+C — остановить")
            await asyncio.Event().wait()

        def shown(seen: Propagation) -> None:
            console.print(f"  [{seen.flow}] {seen.what}: {seen.seconds * 1000:.0f} ms")

        async with httpx.AsyncClient(timeout=60) as http:
            script = Activity(stack, http, report=shown)
            await script.play()
        table = Table(
            "flow / поток", "what / что", "latency / задержка, ms", title="Propagations / распространение"
        )
        for seen in script.log:
            table.add_row(seen.flow, seen.what, f"{seen.seconds * 1000:.0f}")
        console.print(table)
        console.print(f"status page / страница состояния: {stack.obmen}/")
