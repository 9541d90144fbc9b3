"""The demo's stack with obmen reaching 1C through OData (`onec.mode = "odata"`), for tests and benchmarks.

`obmen.demo.stack.running_stack` starts it (the one starter of every stack): the 1C sandbox publishes
OData to obmen's user and, with the ObmenPing extension, pings obmen's `/hooks/onec`; `endpoints.json`
gains `"onec": {"mode", "sandbox", "odata", "odata_login", "odata_password"}`. The site stays as `tuning`
says (the exchange by default).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

from obmen.demo.modes import ODATA_LOGIN, odata_env
from obmen.demo.stack import Stack, Tuning, running_stack

__all__ = ["ODATA_LOGIN", "OdataTuning", "odata_env", "odata_stack"]


@dataclasses.dataclass(frozen=True)
class OdataTuning:
    """How 1C is reached: with the extension (pings and the exchange-plan node) or polled, and how often."""

    extension: bool = True
    poll_interval: float = 2.0
    fixture: Path | None = None


@contextlib.asynccontextmanager
async def odata_stack(
    state_dir: Path, *, tuning: Tuning | None = None, odata: OdataTuning | None = None
) -> AsyncIterator[Stack]:
    """The three sandboxes and obmen, obmen speaking OData to 1C; the stack's `onec` is that 1C."""
    tuning, odata = tuning or Tuning(), odata or OdataTuning()
    ours = dataclasses.replace(
        tuning, onec_mode="odata", odata_extension=odata.extension, odata_poll=odata.poll_interval
    )
    async with running_stack(state_dir, fixture=odata.fixture, tuning=ours) as stack:
        yield stack
