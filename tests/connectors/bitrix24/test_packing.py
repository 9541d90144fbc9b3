"""Write plans packed into batches (crm/packing.py) and the row comparison that skips a set (crm/seen.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT
from obmen.connectors.bitrix24.crm.packing import pack
from obmen.connectors.bitrix24.crm.seen import SeenOrders, same_rows
from obmen.connectors.bitrix24.crm.writes import OpPlan, Step


def _update(deal: int, invoice: int) -> OpPlan:
    """An order update: the deal and its rows, the invoice and its rows; nothing refers to anything."""
    return OpPlan(
        (
            ("crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"stageId": "PREPARATION"}}),
            ("crm.item.productrow.set", {"ownerType": "D", "ownerId": deal, "productRows": []}),
            ("crm.item.update", {"entityTypeId": 31, "id": invoice, "fields": {"stageId": "DT31_1:P"}}),
            ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": invoice, "productRows": []}),
        ),
        "item",
        str(deal),
    )


def _create() -> OpPlan:
    """A new order: the rows and the invoice refer to the deal the first command makes."""
    return OpPlan(
        (
            ("crm.item.add", {"entityTypeId": 2, "fields": {}}),
            ("crm.item.productrow.set", {"ownerType": "D", "ownerId": Step(0), "productRows": []}),
            ("crm.item.add", {"entityTypeId": 31, "fields": {"parentId2": Step(0)}}),
        ),
        "item",
    )


@given(st.lists(st.booleans(), max_size=80))
def test_batches_hold_every_command_once_and_keep_chains_and_objects_together(kinds: list[bool]) -> None:
    plans = [(i, _create() if new else _update(100 + i, 500 + i)) for i, new in enumerate(kinds)]
    batches = pack(plans)
    names = [name for calls, _ in batches for name in calls]
    assert sorted(names) == sorted(n for i, p in plans for n in p.named(i))
    assert all(len(calls) <= BATCH_LIMIT for calls, _ in batches)
    where = {name: b for b, (calls, _) in enumerate(batches) for name in calls}
    for i, new in enumerate(kinds):
        steps = [where[f"o{i}{s}"] for s in "abcd"[: 3 if new else 4]]
        # A create lies whole in one batch; an update's deal part and invoice part each in one.
        assert len(set(steps)) == 1 if new else (steps[0] == steps[1] and steps[2] == steps[3])
        assert all(i in batches[b][1] for b in steps)
    # Full batches: a batch leaves unused at most what the biggest part (a create's 3) lacks.
    assert len(batches) == 0 if not names else len(batches) <= -(-len(names) // (BATCH_LIMIT - 2))


def test_updates_fill_batches_to_fifty() -> None:
    batches = pack([(i, _update(i, 1000 + i)) for i in range(25)])
    assert [len(calls) for calls, _ in batches] == [50, 50]


def _row(name: str, price: float) -> dict[str, object]:
    return {"productId": 0, "productName": name, "price": price, "quantity": 1.0, "taxRate": None, "sort": 10}


def test_rows_compare_on_what_obmen_sends_and_unknown_rows_never_match() -> None:
    sent = [_row("Кеды", 1200.0)]
    stored = [{**_row("Кеды", 1200), "id": 7, "ownerId": 3, "price": "1200.00", "priceExclusive": 1000}]
    assert same_rows(sent, stored)
    assert not same_rows(sent, [{**stored[0], "price": 1300}])
    assert not same_rows(sent, [{**stored[0], "productName": "Кеды чёрные"}])
    assert not same_rows(sent, [])
    assert not same_rows(sent, None)
    assert not same_rows([*sent, _row("Доставка: Курьер", 300.0)], stored)


def test_a_record_is_trusted_while_fresh_and_a_write_of_an_unseen_deal_leaves_none() -> None:
    now = [0.0]
    seen = SeenOrders(30.0, clock=lambda: now[0])
    seen.put("1", deal={"id": 1}, invoice={"id": 9}, rows=[])
    now[0] = 30.0
    assert seen.fresh("1") is not None
    now[0] = 30.5
    assert seen.fresh("1") is None
    seen.wrote("2", deal={"id": 2}, invoice=None, rows=None, fields={"status": "P"})
    assert seen.fresh("2") is None  # its invoice was never seen: the next write reads it
    seen.put("3", deal={"id": 3}, invoice={"id": 8}, rows=[])
    seen.forget(["3"])
    assert seen.fresh("3") is None
