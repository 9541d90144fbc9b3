"""What every command shares: the `--config` option, one-line failures, the console, logging."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from obmen.config.load import load_settings
from obmen.config.settings import Settings
from obmen.errors import ConfigError
from obmen.store.database import probe, upgrade

__all__ = [
    "ConfigOption",
    "console",
    "fail",
    "interruptible",
    "log_to_stderr",
    "migrated",
    "settings_from",
    "typer_app",
]

console = Console()


def typer_app(**kwargs: Any) -> typer.Typer:
    """A command group with plain help: no `<bool>` placeholders, as wide as the terminal (or 120 columns
    when piped), and no rich tracebacks (they would print local variables, secrets among them)."""
    width = shutil.get_terminal_size((120, 24)).columns
    return typer.Typer(
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"max_content_width": max(width, 80), "terminal_width": width},
        **kwargs,
    )


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: ./obmen.toml if it exists).",
        envvar="OBMEN_CONFIG",
    ),
]


def interruptible() -> None:
    """Make Ctrl+C (SIGINT) and SIGTERM stop this command cleanly, as a KeyboardInterrupt.

    A process started in the background by a shell without job control (a CI runner, `cmd &` in a script)
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: the command would not stop.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _as_interrupt)


def _as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl+C: asyncio.run's own SIGINT handler then cancels the main task, finally blocks run."""
    signal.raise_signal(signal.SIGINT)


def fail(message: str) -> NoReturn:
    """One plain line on stderr (never wrapped: scripts and tests read it) and exit code 2."""
    sys.stderr.write(f"obmen: {message}\n")
    raise typer.Exit(2)


def settings_from(path: Path | None) -> Settings:
    """The validated settings of `path` (or ./obmen.toml), or a one-line failure."""
    if path is None and Path("obmen.toml").exists():
        path = Path("obmen.toml")
    try:
        return load_settings(path)
    except ConfigError as exc:
        fail(str(exc))


def log_to_stderr(settings: Settings) -> None:
    """Log lines with time, level and logger at the configured level."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def migrated(settings: Settings, *, migrate: bool = False) -> None:
    """Stop with one line unless the database is reachable and migrated; `migrate` upgrades it, saying so."""
    found = probe(settings.database.url)
    if found.error is not None:
        fail(f"database unreachable / база данных недоступна: {found.error}")
    if found.migrated:
        return
    if migrate:
        revision = upgrade(settings.database.url)
        sys.stderr.write(f"obmen: database migrated to revision {revision} / база данных обновлена\n")
        return
    at = f"at revision {found.revision}" if found.revision else "empty"
    fail(
        f"the database is {at}, this obmen needs {found.head}: run `obmen db upgrade` "
        "/ база данных не обновлена: выполните `obmen db upgrade`"
    )
