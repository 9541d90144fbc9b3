"""What each system really has, kept for the dashboard's mapping page (obmen.store.facts).

Each integration brings its own reader (`Integration.facts`, built by its connector's setup: the portal's
pipelines, stages, users and fields; what 1C's or the site's uploads declared); this module only runs them
and saves what they read. `obmen check` keeps what its own pass read instead (obmen.app.checks), so the
systems are read once. Nothing is written to a system.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from obmen.connectors.base import Integration
from obmen.errors import ObmenError
from obmen.store.database import Database
from obmen.store.facts import save_facts

__all__ = ["READ_TIMEOUT", "keep", "keep_facts"]

#: One system's read may wait on a slow remote; past this it is left out (what was read before stays).
READ_TIMEOUT = 60.0


async def keep_facts(integrations: Iterable[Integration], db: Database, tenant: str) -> list[str]:
    """Read and save the facts of each integration; the systems read. A system whose read fails keeps
    what was read of it before, with that time (its failure is `obmen check`'s to explain)."""
    kept: list[str] = []
    for integration in integrations:
        if integration.facts is None:
            continue
        try:
            found = await asyncio.wait_for(integration.facts(), READ_TIMEOUT)
        except (ObmenError, TimeoutError):
            continue
        if await keep(db, tenant, integration.system, found):
            kept.append(integration.system)
    return kept


async def keep(db: Database, tenant: str, system: str, found: dict[str, Any] | None) -> bool:
    """Save one system's facts, when there are any (None: nothing was read)."""
    if found is None:
        return False
    await save_facts(db, tenant, system, found, now=time.time())
    return True
