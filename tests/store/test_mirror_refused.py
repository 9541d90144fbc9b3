"""A basket change the site will never take, because its order was paid meanwhile, is its answer.

The site's loader keeps the basket of a paid order (docs/protocols/commerceml.md §2.7). A manager's row
edit queued for the site just before the customer paid was, before, kept as "not yet seen" and offered
at every round, while the site kept its paid basket: the systems disagreed in silence (found by
`python -m bench lifecycle`). Now the site's basket is its own edit, contested, for the merge to decide.
"""

from __future__ import annotations

from typing import Any

from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import Record
from obmen.connectors.site.connector import refuses
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore

T, S = "default", "site"
ONE = [{"offer": "o-1", "quantity": "1"}]
TWO = [{"offer": "o-1", "quantity": "2"}]


def _order(lines: list[dict[str, Any]], *, paid: bool) -> dict[str, Any]:
    payment = {"system": "Банковская карта", "amount": "100", "paid": paid}
    return {"number": "7", "lines": lines, "payments": [payment]}


async def _delivered(db: Database) -> MirrorIngest:
    clock = iter(float(n) for n in range(1, 100))
    ingest = MirrorIngest(db, T, S, clock=lambda: next(clock), refuses=refuses)
    obmen = MirrorStore(db, T, S, clock=lambda: next(clock))
    await ingest.absorb([Record("order", "7", _order(ONE, paid=False))], trigger="site:upload")
    await obmen.queue("order", {"7": {**_order(TWO, paid=False)}}, {"7": {"lines": ONE}})
    [sent] = await ingest.collect("run-1")
    assert sent.fields["lines"] == TWO
    await ingest.acknowledge("run-1")
    return ingest


async def test_a_paid_order_s_kept_basket_is_the_site_s_own_and_not_offered_again(db: Database) -> None:
    ingest = await _delivered(db)
    await ingest.absorb([Record("order", "7", _order(ONE, paid=True))], trigger="site:upload")
    snapshot = await MirrorStore(db, T, S, clock=lambda: 99.0).snapshots("order", ["7"])
    assert snapshot["7"].fields["lines"] == ONE
    assert snapshot["7"].contested["lines"] == (ONE, TWO)
    assert await ingest.collect("run-2") == []


async def test_an_unpaid_order_still_gets_the_change_offered_again(db: Database) -> None:
    ingest = await _delivered(db)
    await ingest.absorb([Record("order", "7", _order(ONE, paid=False))], trigger="site:upload")
    assert (await ingest.snapshots("order", ["7"]))["7"]["lines"] == TWO
    [again] = await ingest.collect("run-2")
    assert again.fields["lines"] == TWO
