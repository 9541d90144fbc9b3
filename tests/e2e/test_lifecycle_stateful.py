"""Orders through their whole life: the `hypothesis.stateful` machine of `obmen.testing.lifecycle`.

One stack (three sandboxes and obmen on loopback, in this process) serves a few bounded examples; the
longer run is `python -m bench lifecycle`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from obmen.testing.lifecycle import StackThread, machine
from obmen.testing.lifecycle_checks import TUNING

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


@pytest.mark.timeout(600)
def test_the_same_on_the_push_paths_the_site_s_rest_and_1c_s_odata(tmp_path: Path) -> None:
    push = dataclasses.replace(TUNING, site_mode="rest", onec_mode="odata")
    bounded = settings(BOUNDED, max_examples=3, stateful_step_count=8)
    with StackThread(tmp_path / "state", push) as stack:
        run_state_machine_as_test(machine(stack), settings=bounded)
