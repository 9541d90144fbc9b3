"""The site connector: catalog creates keyed by the 1C `Ид`, everything else as any mirrored partner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from obmen.connectors.base import Create, Update
from obmen.connectors.site.connector import SITE_CREATES, site_connector


@dataclass
class Snap:
    fields: Mapping[str, Any]
    origin: str | None
    modified_at: float


class Port:
    """An in-memory outbox: what the connector queued, by entity and id."""

    def __init__(self) -> None:
        self.queued: dict[tuple[str, str], dict[str, Any]] = {}

    async def snapshots(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Snap]:
        return {x: Snap(self.queued[(entity, x)], x, 0.0) for x in external_ids if (entity, x) in self.queued}

    async def origins(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, tuple[str, Snap]]:
        return {cid: (cid, snap) for cid, snap in (await self.snapshots(entity, canonical_ids)).items()}

    async def ids(self, entity: str, after: str | None, limit: int) -> Sequence[str]:
        return sorted(x for e, x in self.queued if e == entity)[:limit]

    async def queue(
        self,
        entity: str,
        documents: Mapping[str, Mapping[str, Any]],
        changed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.queued.update({(entity, x): dict(fields) for x, fields in documents.items()})


async def test_catalog_creates_carry_the_1c_id_and_repeat_onto_the_same_row() -> None:
    port = Port()
    site = site_connector(port)
    ops = [
        Create("offer", "cid-1", {"xml_id": "p1#c1", "name": "A"}),
        Create("product", "cid-2", {"xml_id": None, "name": "B"}),
        Create("order", "cid-3", {"number": "5", "xml_id": "ignored"}),
    ]
    results = await site.write(ops)
    assert [r.op for r in results] == ops
    assert [r.external_id for r in results] == ["p1#c1", "cid-2", "cid-3"]
    # A retried create (after a crash) lands on the same outbox row, and matching finds it by `Ид`.
    await site.write([Create("offer", "cid-1", {"xml_id": "p1#c1", "name": "A2"})])
    assert sorted(x for e, x in port.queued if e == "offer") == ["p1#c1"]
    assert await site.match("offer", [("xml_id", "p1#c1")]) == {("xml_id", "p1#c1"): "p1#c1"}


async def test_updates_are_whole_documents_over_what_the_site_holds() -> None:
    port = Port()
    site = site_connector(port)
    await site.write([Create("order", "cid-3", {"number": "5", "status": "N"})])
    [result] = await site.write([Update("order", "cid-3", {"status": "P"})])
    assert result.ok
    assert port.queued[("order", "cid-3")] == {"number": "5", "status": "P"}
    assert {"order", "counterparty", "product", "offer"} <= SITE_CREATES


async def test_a_basket_change_of_an_order_the_site_would_not_change_is_refused_with_the_reason() -> None:
    # Bitrix's loader keeps the basket of an order that is paid, allowed for delivery or final
    # (docs/protocols/commerceml.md §2.7): a document would be taken without it, in silence.
    port = Port()
    site = site_connector(port)
    lines = [{"offer": None, "name": "Чайник", "quantity": "1"}]
    more = [{**lines[0], "quantity": "3"}]
    held = {
        "paid": {"payments": [{"paid": True}]},
        "final": {"status": "F"},
        "shipped": {"external_numbers": [["onec_shipment", "ОТ-1"]]},
        "open": {"status": "N", "payments": [{"paid": False}]},
    }
    for name, fields in held.items():
        await site.write([Create("order", name, {"number": name, "lines": lines, **fields})])
    results = await site.write([Update("order", name, {"lines": more, "status": "D"}) for name in held])
    assert [r.ok for r in results] == [False, False, False, True]
    assert all("does not change the basket" in str(r.error) for r in results[:3])
    assert port.queued[("order", "paid")]["lines"] == lines  # nothing queued for a refused change
    assert port.queued[("order", "open")]["lines"] == more
    # A change that leaves the basket as it is goes through.
    [status_only] = await site.write([Update("order", "final", {"status": "F", "lines": lines})])
    assert status_only.ok


async def test_a_cancelled_order_is_not_restored_by_a_document_nor_a_paid_one_rebasketed() -> None:
    """Neither loader would take them (docs/protocols/commerceml.md §2.7): refused with the reason, and
    the other updates of the same write still go."""
    port = Port()
    port.queued[("order", "7")] = {"number": "7", "cancelled": True, "status": "N"}
    port.queued[("order", "8")] = {"number": "8", "payments": [{"paid": True}], "lines": [1]}
    port.queued[("order", "9")] = {"number": "9", "cancelled": False, "status": "N"}
    site = site_connector(port)
    ops = [
        Update("order", "7", {"cancelled": False, "status": "F"}),
        Update("order", "8", {"lines": [2]}),
        Update("order", "9", {"status": "P"}),
    ]
    results = await site.write(ops)
    assert [r.op for r in results] == ops
    assert "does not restore a cancelled order" in str(results[0].error)
    assert "does not change the basket" in str(results[1].error)
    assert results[2].error is None
    assert port.queued[("order", "7")]["cancelled"] is True
    assert port.queued[("order", "8")]["lines"] == [1]
    assert port.queued[("order", "9")]["status"] == "P"
