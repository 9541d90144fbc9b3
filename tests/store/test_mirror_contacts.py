"""A customer's contacts in a pull-only partner's uploads only add up (docs/protocols/commerceml.md §2.6)."""

from __future__ import annotations

from obmen.connectors.mirrored.ingest import MirrorIngest
from obmen.connectors.mirrored.records import Record
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore

T, S = "default", "site"
OLD = {"name": "Ирина", "phones": ["+79123456789"], "emails": ["irina@example.ru"]}
BOTH = {"name": "Ирина", "phones": ["+74951112233", "+79123456789"], "emails": ["irina@example.ru"]}


def _party(fields: dict[str, object]) -> Record:
    return Record("counterparty", "7", dict(fields))


async def test_an_order_carrying_fewer_contacts_than_the_partner_holds_changes_nothing(db: Database) -> None:
    clock = iter(float(n) for n in range(1, 100))
    ingest = MirrorIngest(db, T, S, clock=lambda: next(clock))
    obmen = MirrorStore(db, T, S, clock=lambda: next(clock))  # what the site connector writes to
    await ingest.absorb([_party(OLD)], trigger="site:query")
    # A manager added a phone in the CRM; obmen sent it to the site after the site's upload.
    await obmen.queue("counterparty", {"7": BOTH})
    # The customer orders again, typing only her old phone: not a removal of the new one.
    await ingest.absorb([_party(OLD)], trigger="site:query")
    assert (await ingest.snapshots("counterparty", ["7"]))["7"]["phones"] == BOTH["phones"]
    # A phone she types that nobody had is news, added next to the others.
    new = await ingest.absorb([_party({**OLD, "phones": ["+70000000001"]})], trigger="site:query")
    assert new.enqueued == {"counterparty": 1}
    phones = (await ingest.snapshots("counterparty", ["7"]))["7"]["phones"]
    assert phones == ["+70000000001", "+74951112233", "+79123456789"]


async def test_a_contact_removed_by_obmen_is_not_brought_back_by_an_older_upload(db: Database) -> None:
    clock = iter(float(n) for n in range(1, 100))
    ingest = MirrorIngest(db, T, S, clock=lambda: next(clock))
    obmen = MirrorStore(db, T, S, clock=lambda: next(clock))  # what the site connector writes to
    await ingest.absorb([_party(BOTH)], trigger="site:query")
    await obmen.queue("counterparty", {"7": OLD})  # removed in the CRM, sent to the site
    await ingest.absorb([_party(OLD)], trigger="site:query")
    assert (await ingest.snapshots("counterparty", ["7"]))["7"]["phones"] == OLD["phones"]
