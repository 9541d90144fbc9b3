"""A document the partner collected and then uploaded over without showing obmen's change is offered again.

1C keeps an order it changed itself since its last upload and answers with its own (its sandbox, like a
real 1C); obmen's change was not lost but not taken either. Before, the outbox took the upload for "not
yet seen" for good, and the systems disagreed in silence (found by `python -m bench lifecycle`).
"""

from __future__ import annotations

from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import Record
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore

T, S = "default", "onec"


async def test_a_collected_change_the_partner_did_not_take_is_collected_again_until_it_shows(
    db: Database,
) -> None:
    clock = iter(float(n) for n in range(1, 100))
    ingest = MirrorIngest(db, T, S, clock=lambda: next(clock))
    obmen = MirrorStore(db, T, S, clock=lambda: next(clock))
    await ingest.absorb([Record("order", "41", {"number": "41", "status": "N"})], trigger="onec:upload")
    await obmen.queue("order", {"41": {"number": "41", "status": "F"}}, {"41": {"status": "N"}})
    [sent] = await ingest.collect("run-1")
    assert sent.fields["status"] == "F"
    await ingest.acknowledge("run-1")
    assert await ingest.collect("run-2") == []
    # 1C answers with its own order, still N: obmen's value stays, and the document goes once more.
    await ingest.absorb([Record("order", "41", {"number": "41", "status": "N"})], trigger="onec:upload")
    assert (await ingest.snapshots("order", ["41"]))["41"]["status"] == "F"
    [again] = await ingest.collect("run-3")
    assert again.fields["status"] == "F"
    await ingest.acknowledge("run-3")
    # Now 1C took it: seen, and nothing more is offered.
    await ingest.absorb([Record("order", "41", {"number": "41", "status": "F"})], trigger="onec:upload")
    assert await ingest.collect("run-4") == []
