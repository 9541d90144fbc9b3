"""One backoff formula (docs/architecture.md §2.6): waits grow in `obmen.errors` and nowhere else, and the
clients retry one call through `obmen.errors.retrying`."""

from __future__ import annotations

import ast
import random
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from obmen.errors import Retry, TransientError, backoff, growth

SRC = Path(__file__).resolve().parents[2] / "src" / "obmen"
CLIENTS = [
    "connectors/bitrix24/client/rest.py",
    "connectors/site/rest/client.py",
    "connectors/onec/odata/client.py",
]


def _powers_of_two(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Pow)
        and isinstance(node.left, ast.Constant)
        and node.left.value == 2
    ]


def test_waits_grow_only_in_the_errors_module() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "errors.py" and (lines := _powers_of_two(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_every_client_retries_through_the_one_helper() -> None:
    for name in CLIENTS:
        source = (SRC / name).read_text(encoding="utf-8")
        assert "retrying(" in source, name
        assert "random" not in source, name  # no jitter of its own


@given(attempt=st.integers(min_value=1, max_value=80), seed=st.integers(min_value=0, max_value=2**16))
def test_backoff_stays_in_the_upper_half_of_its_ceiling(attempt: int, seed: int) -> None:
    ceiling = growth(attempt, base=0.5, cap=30.0)
    assert ceiling == min(30.0, 0.5 * 2 ** (attempt - 1))
    assert ceiling / 2 <= backoff(attempt, base=0.5, cap=30.0, rng=random.Random(seed)) <= ceiling


@given(hint=st.floats(min_value=0, max_value=3600), slept=st.floats(min_value=0, max_value=30))
def test_a_client_never_waits_longer_than_its_bounds(hint: float, slept: float) -> None:
    policy = Retry()
    wait = policy.wait(1, slept, TransientError("busy", retry_after=hint))
    if wait is None:
        # The wait it refused is at most max(hint, the first backoff's ceiling of 0.5 s).
        assert hint > policy.max_wait or slept + max(hint, 0.5) > policy.max_total
    else:
        assert hint <= wait <= policy.max_wait
        assert slept + wait <= policy.max_total
