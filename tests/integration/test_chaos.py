"""The bounded chaos run (issue 13): 100 site orders while obmen is killed -9 three times (during 1C's
catalog upload, during a site exchange round, at a random moment) and the portal fails 10 % of its calls and
loses, duplicates and reorders its events; every system must end up agreeing with the others.

The sandboxes and obmen run in processes of their own (`obmen.testing.chaos`); `python -m bench chaos` runs
the full plan and prints the table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from obmen.testing.chaos import Plan, run_chaos

pytestmark = pytest.mark.slow

#: The plan `bench/chaos.py` prints as its first row.
BOUNDED = Plan(orders=100, kills=3, rate=5.0, converge_timeout=240.0)


def test_nothing_is_lost_or_duplicated_when_obmen_is_killed_under_a_failing_network(tmp_path: Path) -> None:
    report = asyncio.run(run_chaos(BOUNDED, tmp_path / "state"))
    census = report.census
    assert len(census.placed) == BOUNDED.orders
    kinds = [k.kind.split()[0] for k in report.kills]
    assert (kinds, report.restarts) == (["1c", "site", "any"], BOUNDED.kills)
    # The kills landed in what they were timed to: 1C's upload and the site's round were under way.
    assert all(k.during for k in report.kills if k.kind != "any moment"), report.kills
    assert (census.lost, census.duplicates, census.parked) == (0, 0, 0), census.problems
    assert report.converge_seconds is not None
    assert (census.orders, census.deals, census.invoices, census.onec_orders) == (100, 100, 100, 100)
    assert census.contacts == min(BOUNDED.customers, BOUNDED.orders)
