"""Which online events are taken for echoes of obmen's own writes (connectors/bitrix24/echo.py)."""

from __future__ import annotations

from typing import Any

import pytest

from obmen.connectors.base import Change
from obmen.connectors.bitrix24.events.echo import Echoes


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("method", "params", "result", "change"),
    [
        ("crm.item.add", {"entityTypeId": 2, "fields": {}}, {"item": {"id": 7}}, Change("order", "7")),
        ("crm.item.add", {"entityTypeId": 31, "fields": {}}, {"item": {"id": 9}}, Change("invoice", "9")),
        ("crm.item.update", {"entityTypeId": 2, "id": 7, "fields": {}}, {"item": {}}, Change("order", "7")),
        ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": 9}, {}, Change("invoice", "9")),
        ("crm.deal.update", {"id": "12", "fields": {}}, True, Change("order", "12")),
        ("crm.contact.add", {"fields": {}}, 31, Change("counterparty", "C31")),
        ("crm.company.update", {"id": 4, "fields": {}}, True, Change("counterparty", "CO4")),
        ("catalog.product.add", {"fields": {}}, {"element": {"id": 55}}, Change("offer", "55")),
        ("catalog.price.modify", {"fields": {"product": {"id": 55}}}, {}, Change("product", "55")),
    ],
)
def test_a_write_makes_its_events_echoes(method: str, params: Any, result: Any, change: Change) -> None:
    echoes = Echoes(10.0, clock=Clock())
    echoes.wrote(method, params, result)
    assert echoes.drop([change, Change(change.entity, "999")]) == [Change(change.entity, "999")]
    assert echoes.dropped == 1


def test_chained_ids_and_other_objects_name_nothing() -> None:
    echoes = Echoes(10.0, clock=Clock())
    # The rows of a deal made in the same batch name it by `$result[...]`: the add itself is the echo key.
    echoes.wrote("crm.item.productrow.set", {"ownerType": "D", "ownerId": "$result[c0][item][id]"}, {})
    echoes.wrote("crm.item.add", {"entityTypeId": 1032, "fields": {}}, {"item": {"id": 5}})  # a smart process
    echoes.wrote("crm.requisite.add", {"fields": {"ENTITY_ID": 3}}, 8)
    changes = [Change("order", "5"), Change("counterparty", "C3"), Change("lead", "8")]
    assert echoes.drop(changes) == changes


def test_an_echo_is_only_recent() -> None:
    clock = Clock()
    echoes = Echoes(10.0, clock=clock)
    echoes.wrote("crm.deal.add", {"fields": {}}, 3)
    clock.now += 10.0
    assert echoes.drop([Change("order", "3")]) == []
    clock.now += 0.5
    assert echoes.drop([Change("order", "3")]) == [Change("order", "3")]


def test_old_writes_are_forgotten_as_new_ones_come() -> None:
    clock = Clock()
    echoes = Echoes(10.0, clock=clock)
    for i in range(1000):
        echoes.wrote("crm.deal.update", {"id": i, "fields": {}}, True)
        clock.now += 0.1
    # Only the last window's worth stays: memory follows the write rate, not the run's length.
    assert len(echoes._wrote) <= 101


def test_only_the_named_entities_may_be_dropped() -> None:
    echoes = Echoes(10.0, clock=Clock())
    echoes.wrote("catalog.product.update", {"id": 8, "fields": {}}, {"element": {"id": 8}})
    echoes.wrote("crm.deal.update", {"id": 8, "fields": {}}, True)
    kept = echoes.drop([Change("product", "8"), Change("order", "8")], only={"order"})
    assert kept == [Change("product", "8")]
