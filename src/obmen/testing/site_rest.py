"""The demo's stack with the site in `rest` mode, for the e2e tests and `bench/site_modes.py`.

`obmen.demo.stack.running_stack` starts it (the one starter of every stack): the site sandbox gets an
incoming webhook and, as `events` says, an outgoing webhook bound to obmen's `/hooks/site`, the obmen.ping
module posting there, or neither; the catalog goes to the site through the exchange
(docs/protocols/site-rest.md §7). 1C stays on the exchange here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from obmen.demo.modes import SITE_WEBHOOK_USER, site_rest_env
from obmen.demo.stack import Stack, Tuning, running_stack

__all__ = ["SITE_WEBHOOK_USER", "rest_stack", "site_rest_env"]


@contextlib.asynccontextmanager
async def rest_stack(
    state_dir: Path, *, events: str = "webhook", site_poll: float = 2.0, limits: str = "cloud"
) -> AsyncIterator[Stack]:
    """The three sandboxes and obmen with `site.mode = "rest"`; `events` is "webhook", "ping" or "none"."""
    tuning = Tuning(limits=limits, site_poll=site_poll, site_mode="rest", site_events=events)
    async with running_stack(state_dir, tuning=tuning) as stack:
        yield stack
