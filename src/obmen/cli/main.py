"""The `obmen` command: a thin sync wrapper around the async core.

Every command loads and validates the configuration once; a bad configuration prints one line naming
the file, key, value and what is allowed, and exits with code 2. Each command group is a module here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from obmen import __version__
from obmen.cli.check import check
from obmen.cli.common import typer_app
from obmen.cli.conflicts import conflicts_app
from obmen.cli.db import db_app
from obmen.cli.run import demo_command, run, serve, worker
from obmen.cli.sandbox import sandbox_app
from obmen.cli.status import status
from obmen.cli.sync import sync

__all__ = ["app", "main"]

app = typer_app(
    help="obmen: two-way sync of 1C:Enterprise, a 1C-Bitrix site and Bitrix24 CRM.", no_args_is_help=True
)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"obmen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """obmen: two-way sync of 1C:Enterprise, a 1C-Bitrix site and Bitrix24 CRM."""


app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(conflicts_app, name="conflicts")
app.command()(run)
app.command()(serve)
app.command()(worker)
app.command()(status)
app.command()(check)
app.command()(sync)
app.command("demo")(demo_command)


def main() -> None:
    """Entry point of the `obmen` script."""
    app()
