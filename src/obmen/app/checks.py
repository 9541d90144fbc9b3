"""`obmen check`: one pass over the database and every configured system, each verdict with what to do.

Each integration brings its own checks (`Integration.checks`, built by its connector's setup); this module
only builds the integrations as `obmen run` would, runs their checks one system at a time, and adds the
database's. Nothing is written to a system: the checks read, and what they read of each system
(`Survey.facts`) is kept in the store for the dashboard's mapping page, not read a second time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from obmen.app.facts import keep
from obmen.app.runtime import SETUPS, SYSTEMS
from obmen.config.settings import Settings
from obmen.connectors.base import Check, Integration, SetupContext
from obmen.store.database import Database, probe

__all__ = ["Report", "check_all"]

#: One system's checks may wait on a slow remote; past this the system fails with that reason.
SYSTEM_TIMEOUT = 60.0


@dataclass
class Report:
    """Every verdict, and the systems the configuration leaves out."""

    checks: list[Check] = field(default_factory=list)
    not_configured: list[str] = field(default_factory=list)
    #: The systems whose facts were read and kept for the dashboard (obmen.store.facts).
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check passed (and there was something to check)."""
        return bool(self.checks) and all(c.ok for c in self.checks)


def _database(settings: Settings) -> tuple[list[Check], bool]:
    found = probe(settings.database.url)
    if found.error is not None:
        fix = "check database.url and that the server runs / проверьте database.url и что сервер работает"
        return [Check("database", "reachable / доступна", False, found.error, fix)], False
    checks = [Check("database", "reachable / доступна", True, settings.database.url.split("@")[-1])]
    at = found.revision or "empty / пустая"
    checks.append(
        Check(
            "database",
            "migrated / обновлена",
            found.migrated,
            f"revision {at}" + ("" if found.migrated else f", this obmen needs {found.head}"),
            "run `obmen db upgrade` / выполните `obmen db upgrade`",
        )
    )
    return checks, found.migrated


async def _survey(integration: Integration, db: Database, report: Report, *, migrated: bool) -> None:
    """One system's checks; what they read of it is kept for the dashboard's mapping page."""
    if integration.checks is None:
        return
    survey = await asyncio.wait_for(integration.checks(), SYSTEM_TIMEOUT)
    report.checks += survey.checks
    if migrated and await keep(db, "default", integration.system, survey.facts):
        report.facts.append(integration.system)


async def check_all(settings: Settings) -> Report:
    """The database first, then each configured system in the order `obmen run` builds them."""
    report = Report()
    checks, migrated = await asyncio.to_thread(_database, settings)
    report.checks += checks
    db = Database.connect(settings.database.url)
    ctx = SetupContext(
        db=db,
        tenant="default",
        state_dir=settings.state_dir,
        clock=time.time,
        wake=lambda: None,
        attach=lambda _: None,
    )
    try:
        for system, setup in zip(SYSTEMS, SETUPS, strict=True):
            integration = await setup(settings, ctx)
            if integration is None:
                report.not_configured.append(system)
                continue
            try:
                await _survey(integration, db, report, migrated=migrated)
            except Exception as exc:  # a check that breaks must fail its system, not the whole command
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                fix = "see the reason / см. причину"
                if not migrated:
                    reason, fix = "needs a migrated database", "run `obmen db upgrade` first"
                report.checks.append(Check(system, "check / проверка", False, reason, fix))
            finally:
                for close in integration.closers:
                    await close()
    finally:
        await db.close()
    if len(report.not_configured) == len(SYSTEMS):
        fix = (
            "configure [onec], [site] or [bitrix24] (see obmen.example.toml) / настройте хотя бы одну систему"
        )
        report.checks.append(Check("obmen", "systems / системы", False, "no system is configured", fix))
    return report
