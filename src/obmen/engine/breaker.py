"""One circuit breaker per remote system: an outage is not an item's failure (docs/architecture.md §2.13).

A client raises `SystemRefused` when the whole system refuses obmen (credentials, a plan without REST, a
wrong webhook) or does not answer at all. The breaker of that system then *opens*:

* batches of entities the system carries are held back without a remote call: their items go back to
  the queue until the next probe, spending no attempt and never parked for it (`engine/outcome.py`,
  `Defer`);
* the scheduler skips the system's change feed and scan;
* the worker that holds the tenant's lease probes the system (one cheap read) when it is due, at
  growing intervals, `probe_first` doubled after each failed probe up to `probe_cap` (1 min → 2 → 4 …
  30 min by default);
* a probe that succeeds closes the breaker and releases the held items at once.

Opening and closing are one log line each. The state lives in the store (`store/outages.py`), so
`obmen status`, the dashboard and the other processes see it; each process keeps a copy it refreshes
every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping

from obmen.connectors.base import Connector
from obmen.errors import ObmenError, SystemRefused, growth
from obmen.store import outages
from obmen.store.database import Database
from obmen.store.outages import Outage

__all__ = ["Breakers", "Outage", "probe_interval"]

log = logging.getLogger(__name__)


def probe_interval(probes: int, *, first: float, cap: float) -> float:
    """Seconds until the next probe after `probes` failed ones: `first`, doubled each time, at most `cap`."""
    return growth(probes + 1, base=first, cap=cap)


class Breakers:
    """The breakers of one tenant's systems, as this process knows them."""

    def __init__(
        self,
        db: Database,
        tenant: str,
        *,
        clock: Callable[[], float] = time.time,
        first: float = 60.0,
        cap: float = 1800.0,
        refresh: float = 2.0,
    ) -> None:
        self.db, self.tenant, self.clock = db, tenant, clock
        self.first, self.cap, self.refresh_every = first, cap, refresh
        self._open: dict[str, Outage] = {}
        self._read_at: float | None = None
        #: A probe under way: concurrent batches of one worker must not probe the same system twice.
        self._probing = False

    def outage(self, system: str) -> Outage | None:
        """The system's open breaker, if it is open."""
        return self._open.get(system)

    def holding(self, systems: Iterable[str]) -> Outage | None:
        """The first open breaker among `systems` (work that needs them waits for its probe)."""
        return next((o for s in sorted(systems) if (o := self._open.get(s)) is not None), None)

    def delay(self, system: str) -> float:
        """How long held work of `system` waits: until just after its next probe."""
        outage = self._open.get(system)
        due = outage.next_probe if outage is not None else self.clock() + self.first
        # A second after the probe: by then it has closed the breaker (the items are released) or not.
        return max(0.0, due - self.clock()) + 1.0

    async def refresh(self, *, force: bool = False) -> None:
        """Read the breakers from the store at most every `refresh` seconds (another process may own them)."""
        now = self.clock()
        if not force and self._read_at is not None and now - self._read_at < self.refresh_every:
            return
        async with self.db.begin() as conn:
            self._open = await outages.read_outages(conn, self.tenant)
        self._read_at = now

    async def refused(self, error: SystemRefused) -> Outage:
        """The system refused: open its breaker, or, after its probe was due, count a failed probe."""
        now = self.clock()
        known = self._open.get(error.system)
        if known is not None and now < known.next_probe:
            return known  # a call that was already under way when it opened: nothing new
        if known is None:
            outage = Outage(error.system, error.reason, since=now, next_probe=now + self.first)
            log.warning(
                "%s refuses obmen: %s; its work is held back, next probe in %.0fs",
                error.system,
                error.reason,
                self.first,
            )
        else:
            probes = known.probes + 1
            wait = probe_interval(probes, first=self.first, cap=self.cap)
            outage = Outage(error.system, error.reason, known.since, now + wait, probes)
            log.debug("%s still refuses: %s; next probe in %.0fs", error.system, error.reason, wait)
        await self._save(outage)
        return outage

    async def close(self, system: str) -> int:
        """The system answers again: close its breaker and release its held work; returns items released."""
        known = self._open.pop(system, None)
        now = self.clock()
        async with self.db.begin() as conn:
            released = await outages.clear_outage(conn, self.tenant, system, now=now)
        if known is not None:
            log.warning(
                "%s answers again after %.0fs: %d held items resume", system, now - known.since, released
            )
        return released

    async def probe(self, connectors: Mapping[str, Connector]) -> None:
        """Probe every open breaker whose probe is due with one cheap read; close those that answer."""
        if self._probing:
            return
        self._probing = True
        try:
            await self._probe_due(connectors)
        finally:
            self._probing = False

    async def _probe_due(self, connectors: Mapping[str, Connector]) -> None:
        await self.refresh()
        now = self.clock()
        for system, outage in sorted(self._open.items()):
            connector = connectors.get(system)
            if outage.next_probe > now or connector is None:
                continue
            try:
                await _probe(connector)
            except SystemRefused as exc:
                await self.refused(exc)
            except ObmenError as exc:
                # It answers, but not well (a 503, a timeout): not yet back; the reason stays the refusal.
                await self.refused(SystemRefused(str(exc), system=system, reason=outage.reason))
            else:
                await self.close(system)

    async def _save(self, outage: Outage) -> None:
        self._open[outage.system] = outage
        async with self.db.begin() as conn:
            await outages.save_outage(conn, self.tenant, outage, now=self.clock())


async def _probe(connector: Connector) -> None:
    """One page of one id of the system's first entity: the cheapest call every connector can make."""
    entities = sorted(connector.capabilities.fields)
    if entities:
        await connector.scan(entities[0], None, 1)
