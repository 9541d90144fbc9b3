"""The 1C connector: a mirrored, pull-only partner carrying what CommerceML can say (docs/architecture.md).

See §2.7.

Reads come from the 1C mirror that exchange uploads fill; writes go to the outbox that 1C collects with
`mode=query` (docs/protocols/commerceml.md §1.7). Only orders and their customers travel towards 1C, so only
those can be created there; the catalog is 1C's own (the default policy makes 1C its owner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from obmen.config.mapping import property_field
from obmen.connectors.base import Remote
from obmen.connectors.commerceml.carried import CARRIED
from obmen.connectors.mirrored.connector import Mirrored, MirrorPort
from obmen.connectors.onec.stores import StoreTable

__all__ = ["ONEC_CREATES", "ONEC_FIELDS", "SYSTEM", "OneCMirrored", "onec_connector"]

SYSTEM = "onec"

#: Canonical fields 1C's exchange carries; offers also show the price and stock derived below.
ONEC_FIELDS: Mapping[str, frozenset[str]] = {
    **CARRIED,
    "offer": CARRIED["offer"] | {"price", "quantity", "store_stock"},
}
#: What obmen may create in 1C: orders placed elsewhere, and their customers (inside the orders).
ONEC_CREATES = frozenset({"order", "counterparty"})


class OneCMirrored(Mirrored):
    """1C's mirror, with each offer's price in the shown price type and its stock over the counted
    warehouses, in total and per Bitrix24 store (`stores.py`).

    1C sends every price type and warehouse (docs/protocols/commerceml.md §2.4); a system that shows one price
    and
    one quantity (Bitrix24) carries these two derived fields instead, so that it never has to hold, or
    wait for, price types and warehouses it does not have.
    """

    def __init__(
        self,
        port: MirrorPort,
        *,
        price_type: str,
        warehouses: Mapping[str, int] | None = None,
        properties: Sequence[str] = (),
        managers: bool = False,
    ) -> None:
        # Order properties are fields of their own, `property:<code>` (`[mapping] order_properties`),
        # and with `[mapping] managers` the order's responsible manager is one too.
        own = {property_field(p) for p in properties} | ({"manager"} if managers else set())
        fields = {**ONEC_FIELDS, "order": ONEC_FIELDS["order"] | own}
        super().__init__(SYSTEM, port, fields=fields, creates=ONEC_CREATES)
        self.price_type = price_type
        self.stores = StoreTable(warehouses)

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects as 1C holds them; offers also get `price`, `quantity` and `store_stock`."""
        found = await super().fetch(entity, external_ids)
        if entity != "offer" or not found:
            return found
        kinds = {_ref(p.get("price_type")) for r in found.values() for p in r.fields.get("prices") or []}
        named = await self.port.snapshots("price_type", sorted(k for k in kinds if k))
        shown = {x for x, snap in named.items() if snap.fields.get("name") == self.price_type}
        places = {_ref(s.get("warehouse")) for r in found.values() for s in r.fields.get("stock") or []}
        stores = await self.port.snapshots("warehouse", sorted(p for p in places if p))
        names = {x: str(snap.fields.get("name") or "") for x, snap in stores.items()}
        return {x: _with_derived(remote, shown, self.stores, names) for x, remote in found.items()}


def _ref(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, Mapping) and value.get("id") is not None else None


def _with_derived(remote: Remote, shown: set[str], stores: StoreTable, names: Mapping[str, str]) -> Remote:
    fields = dict(remote.fields)
    prices = fields.get("prices")
    if prices is not None:
        chosen = [p["value"] for p in prices if _ref(p.get("price_type")) in shown]
        fields["price"] = chosen[0] if chosen else None
    fields = stores.apply(fields, names)
    return Remote(remote.entity, remote.external_id, fields, remote.modified_at, remote.origin)


def onec_connector(
    port: MirrorPort,
    *,
    price_type: str = "Розничная",
    warehouses: Mapping[str, int] | None = None,
    properties: Sequence[str] = (),
    managers: bool = False,
) -> OneCMirrored:
    """The engine's connector for 1C over its mirror (a `MirrorStore(db, tenant, "onec")`); `properties`
    are the site codes of the order properties it carries, `managers` whether it carries the manager."""
    return OneCMirrored(
        port, price_type=price_type, warehouses=warehouses, properties=properties, managers=managers
    )
