"""1C's one paid flag for a whole order is read over the several payments it was given
(docs/architecture.md §2.11, obmen.model.payments.unfold)."""

from __future__ import annotations

from typing import Any

from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import Record
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore

T, S = "default", "onec"


def pay(system: str, amount: str, paid: bool, at: str | None = None) -> dict[str, Any]:
    return {"system": system, "amount": {"amount": amount, "currency": "RUB"}, "paid": paid, "paid_at": at}


TWO = [pay("card", "300", True, "2026-12-02T10:00:00"), pay("cash", "2000", False)]


def _order(payments: list[dict[str, Any]]) -> Record:
    return Record("order", "41", {"number": "41", "payments": payments})


async def test_a_document_paid_as_a_whole_pays_every_payment_it_was_given(db: Database) -> None:
    clock = iter(float(n) for n in range(1, 100))
    ingest = MirrorIngest(db, T, S, clock=lambda: next(clock))
    await ingest.absorb([_order(TWO)], trigger="onec:upload")
    # 1C posts the cash payment and sends its document back with only the order's `Оплачен`.
    await ingest.absorb([_order([pay("", "2300", True, "2026-12-03T00:00:00")])], trigger="onec:upload")
    held = (await ingest.snapshots("order", ["41"]))["41"]["payments"]
    assert [(p["system"], p["amount"]["amount"], p["paid"]) for p in held] == [
        ("card", "300", True),
        ("cash", "2000", True),
    ]
    assert [p["paid_at"] for p in held] == ["2026-12-02T10:00:00", "2026-12-03T00:00:00"]


async def test_a_document_unpaid_as_a_whole_says_nothing_new_of_a_part_paid_order(db: Database) -> None:
    clock = iter(float(n) for n in range(1, 100))
    ingest = MirrorIngest(db, T, S, clock=lambda: next(clock))
    obmen = MirrorStore(db, T, S, clock=lambda: next(clock))
    await obmen.queue("order", {"41": {"number": "41", "payments": TWO}})  # what obmen gave 1C
    await ingest.absorb([_order([pay("", "2300", False)])], trigger="onec:upload")
    held = (await ingest.snapshots("order", ["41"]))["41"]["payments"]
    assert held == TWO
