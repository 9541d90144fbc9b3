"""Orders through their whole life: the `hypothesis.stateful` machine of `obmen.testing.lifecycle`.

One stack (three sandboxes and obmen on loopback, in this process) serves a few bounded examples; the
longer run, on the exchanges and on the push paths (REST + OData), is `python -m bench lifecycle`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from obmen.testing.lifecycle import StackThread, machine

pytestmark = pytest.mark.slow

BOUNDED = settings(
    max_examples=5,
    stateful_step_count=10,
    deadline=None,
    database=None,
    # The same examples on every CI run: a red build names a regression, not a new random draw (the
    # random search is `python -m bench lifecycle`).
    derandomize=True,
    # Each example is seconds of real exchanges: report the failing steps rather than shrink them.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.timeout(600)
def test_every_system_agrees_no_fact_goes_back_nothing_is_duplicated_or_left_waiting(tmp_path: Path) -> None:
    with StackThread(tmp_path / "state") as stack:
        run_state_machine_as_test(machine(stack), settings=BOUNDED)
