"""Orders through their whole life: the stateful property test of issue 12, run long.

The `hypothesis.stateful` machine of `obmen.testing.lifecycle` over one running stack (three sandboxes
and obmen on loopback): random site orders and payments, CRM stage moves (mapped and not) and row edits,
1C posting, shipping, payment and cancellation with its sale exchanges, contact edits, lost and duplicated
portal events, in random interleavings with the site's exchange rounds. After each example the network
heals and every invariant is checked (docs/architecture.md §2.11, §2.12, §2.14). The table puts the
bounded run CI makes next to the long one.

    python -m bench lifecycle [--examples 20] [--steps 25] [--shrink] [--paths exchange|push|both]

The push paths (the site's REST and events, 1C's OData and pings) get a long run of their own on a second
stack: the same machine, with 1C's accountant marking a cancelled order for deletion as УТ 11 shows it.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from obmen.testing.lifecycle import StackThread, machine
from obmen.testing.lifecycle_checks import TUNING


@dataclass
class Row:
    run: str
    examples: int
    steps: int
    failures: int
    seconds: float


def _run(stack: StackThread, name: str, examples: int, steps: int, shrink: bool) -> Row:
    bound = machine(stack)
    phases = (Phase.explicit, Phase.generate, *((Phase.shrink,) if shrink else ()))
    chosen = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
    started = time.monotonic()
    failures = 0
    try:
        run_state_machine_as_test(bound, settings=chosen)
    except Exception:  # a found failure: hypothesis has printed its steps
        failures = 1
        print(traceback.format_exc(limit=3), flush=True)
    return Row(name, bound.examples, bound.steps, failures, time.monotonic() - started)


def _print(rows: list[Row]) -> None:
    print(f"{'run':<24} {'examples':>8} {'steps':>6} {'failures found':>14} {'seconds':>8} {'s/example':>9}")
    for r in rows:
        per = r.seconds / r.examples if r.examples else 0.0
        print(f"{r.run:<24} {r.examples:>8} {r.steps:>6} {r.failures:>14} {r.seconds:>8.1f} {per:>9.1f}")


def main(argv: list[str]) -> None:
    """Run the bounded and the long run on one stack; print the table."""
    parser = argparse.ArgumentParser(prog="bench lifecycle")
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--shrink", action="store_true", help="shrink a failure to its fewest steps (slow)")
    parser.add_argument("--quick", action="store_true", help="--examples 5 (what `python -m bench` runs)")
    parser.add_argument("--paths", choices=("exchange", "push", "both"), default="both")
    args = parser.parse_args(argv)
    if args.quick:
        args.examples = min(args.examples, 5)
    rows: list[Row] = []
    long = f"({args.examples} × {args.steps})"
    if args.paths in ("exchange", "both"):
        with tempfile.TemporaryDirectory() as tmp, StackThread(Path(tmp) / "state") as stack:
            rows.append(_run(stack, "bounded (as CI: 5 × 10)", 5, 10, args.shrink))
            rows.append(_run(stack, f"long {long}", args.examples, args.steps, args.shrink))
    if args.paths in ("push", "both"):
        push = dataclasses.replace(TUNING, site_mode="rest", onec_mode="odata")
        with tempfile.TemporaryDirectory() as tmp, StackThread(Path(tmp) / "state", push) as stack:
            rows.append(_run(stack, f"REST + OData {long}", args.examples, args.steps, args.shrink))
    _print(rows)


__all__ = ["main"]
