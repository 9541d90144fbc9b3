"""`engine.outcome.decide`: one outcome per item from adoption, the plan step and the writes' results."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from obmen.connectors.base import Update, WriteResult
from obmen.engine.context import Engine, EngineSettings, Plan, Write
from obmen.engine.outcome import Done, Park, Planned, ReadBack, Retry, Wait, decide
from obmen.engine.policy import Policy
from obmen.errors import NotFound, PermanentError, TransientError
from obmen.store.queue import Claimed
from obmen.store.state import JournalEntry

ENGINE = Engine(db=None, connectors={}, policy=Policy.build(), settings=EngineSettings(max_attempts=3))  # type: ignore[arg-type]


def _item(n: int, attempts: int = 1) -> Claimed:
    return Claimed(n, f"order:c{n}", "order", f"c{n}", None, None, attempts, "test", 0.0)


def _plan(cid: str, n: int, read_back: bool = False) -> Plan:
    op = Update("order", "7", {"status": "P"})
    entry = JournalEntry(
        entity="order", canonical_id=cid, action="update", target_system="site", fields={}, trigger="test"
    )
    return Plan(cid, target={"status": "P"}, writes=[Write(n, "site", op, entry)], read_back=read_back)


def test_each_step_answer_becomes_its_outcome() -> None:
    items = [_item(i) for i in range(6)]
    adopted = {0: "c0", 1: Done(), 2: Wait("held by another worker"), 3: "c3", 4: "c4", 5: "c5"}
    planned = Planned(
        plans={"c0": _plan("c0", 0), "c4": _plan("c4", 1, read_back=True), "c5": _plan("c5", 2)},
        waits={"c3": "waits for counterparty x in site"},
    )
    op = planned.plans["c0"].writes[0].op
    results = {
        0: WriteResult(op, external_id="7"),
        1: WriteResult(op, external_id="7"),
        2: WriteResult(op, error=TransientError("503", retry_after=30)),
    }
    out = decide(ENGINE, items, adopted, planned, results)
    assert out[0] == Done()
    assert out[1] == Done()
    assert out[2] == Wait("held by another worker")
    assert out[3] == Wait("waits for counterparty x in site")
    assert out[4] == ReadBack("c4")
    assert isinstance(out[5], Retry)
    assert out[5].after >= 30


@given(
    attempts=st.integers(1, 6),
    error=st.sampled_from([TransientError("timeout"), PermanentError("refused"), NotFound("gone")]),
)
def test_a_failed_write_retries_until_it_is_useless_or_has_gone_on_too_long(
    attempts: int, error: Exception
) -> None:
    item = _item(0, attempts)
    planned = Planned(plans={"c0": _plan("c0", 0)}, waits={})
    result = WriteResult(planned.plans["c0"].writes[0].op, error=error)  # type: ignore[arg-type]
    out = decide(ENGINE, [item], {0: "c0"}, planned, {0: result})[0]
    if isinstance(error, PermanentError):
        assert out == Park(f"{type(error).__name__}: {error}")
    elif attempts >= 3:
        assert isinstance(out, Park)
        assert out.reason.startswith(f"gave up after {attempts} attempts")
    else:
        assert isinstance(out, Retry)
        assert 0 < out.after <= ENGINE.settings.backoff_cap
