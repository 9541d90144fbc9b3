"""`obmen db …`: the database schema."""

from __future__ import annotations

from obmen.cli.common import ConfigOption, console, settings_from, typer_app
from obmen.store.database import upgrade

__all__ = ["db_app"]

db_app = typer_app(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the database schema to the newest revision."""
    settings = settings_from(config)
    revision = upgrade(settings.database.url)
    console.print(f"database at revision {revision}")
