"""The site connector: a mirror of the site's orders and an outbox of what obmen pushes to it.

obmen is the site's 1C (docs/architecture.md §2.7, "the same in reverse"): it polls the site's orders with
`mode=query` into the site mirror and pushes catalog files and order documents from the outbox (the
driver is `obmen.connectors.site.driver`). Catalog objects are created on the site under their 1C
`Ид` (`xml_id`): a site that was fed by 1C before already knows them by it, and an offer's `Ид` must begin
with its
product's (`product#characteristic`, docs/protocols/commerceml.md §2.4), so the canonical id cannot serve.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from obmen.config.mapping import property_field
from obmen.connectors.base import Create, Update, WriteOp, WriteResult
from obmen.connectors.commerceml.carried import CARRIED
from obmen.connectors.mirrored.connector import Mirrored, MirrorPort
from obmen.errors import PermanentError

__all__ = [
    "LOCKED",
    "SITE_CREATES",
    "SITE_FIELDS",
    "SYSTEM",
    "SiteMirrored",
    "basket_locked",
    "refuses",
    "site_connector",
]

SYSTEM = "site"
_CATALOG = frozenset({"category", "product", "offer", "price_type", "warehouse"})

#: What a site takes from a CommerceML exchange, per entity: all of it but VAT rates and images.
SITE_FIELDS: Mapping[str, frozenset[str]] = {
    **CARRIED,
    "product": CARRIED["product"] - {"vat_rate", "images"},
}
SITE_CREATES = frozenset(_CATALOG | {"order", "counterparty"})


#: Bitrix's final order status (its default statuses): an order there takes no basket from the exchange.
_FINAL = frozenset({"F"})
#: Why a basket change is refused for an order the site's loader would not change (the start of the
#: parked reason, so that a person finds them all).
LOCKED = (
    "the site's exchange does not change the basket of an order that is paid, allowed for delivery or final"
)
_BASKET = ("lines", "delivery", "total")


class SiteMirrored(Mirrored):
    """A mirrored connector whose catalog creates carry the object's 1C `Ид` as their site id."""

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Queue documents; a catalog create with an `xml_id` is keyed by it, not by the canonical id.

        A basket change of an order the site's loader refuses to change (paid, allowed for delivery, in a
        final status: docs/protocols/commerceml.md §2.7) is refused with the reason, not queued for a
        document the site would take without it: the disagreement is shown, never silent.
        """
        updates = [op.external_id for op in ops if isinstance(op, Update) and op.entity == "order"]
        held = await self.port.snapshots("order", updates) if updates else {}
        locked = {op.external_id for op in ops if isinstance(op, Update) and _locked(op, held)}
        written = iter(await super().write([_keyed(op) for op in ops if not _in(op, locked)]))
        out: list[WriteResult] = []
        for op in ops:
            if isinstance(op, Update) and _in(op, locked):
                why = f"{LOCKED}: order {op.external_id} (change it on the site, commerceml.md §2.7)"
                out.append(WriteResult(op, error=PermanentError(why)))
            else:
                result = next(written)
                out.append(WriteResult(op, result.external_id, result.error))
        return out


def _in(op: WriteOp, locked: set[str]) -> bool:
    return isinstance(op, Update) and op.entity == "order" and op.external_id in locked


def _locked(op: WriteOp, held: Mapping[str, Any]) -> bool:
    """Whether `op` changes the basket of an order the site holds as paid, allowed for delivery or final."""
    snap = held.get(op.external_id) if isinstance(op, Update) and op.entity == "order" else None
    if snap is None:
        return False
    now: Mapping[str, Any] = snap.fields
    if not any(k in op.fields and op.fields[k] != now.get(k) for k in _BASKET):
        return False
    return basket_locked(now)


def basket_locked(now: Mapping[str, Any]) -> bool:
    """Whether the site's loader keeps the basket of this order (paid, allowed for delivery or final)."""
    numbers = dict(tuple(pair) for pair in now.get("external_numbers") or [])
    payments = list(now.get("payments") or [])
    paid = bool(payments) and all(p.get("paid") for p in payments)
    return paid or str(now.get("status") or "") in _FINAL or bool(numbers.get("onec_shipment"))


def _keyed(op: WriteOp) -> WriteOp:
    if isinstance(op, Create) and op.entity in _CATALOG and op.fields.get("xml_id"):
        # The same create retried lands on the same outbox row: idempotent by construction.
        return Create(op.entity, str(op.fields["xml_id"]), op.fields)
    return op


def refuses(entity: str, shown: Mapping[str, Any]) -> Collection[str]:
    """The fields of an uploaded object the site will not take from obmen (`MirrorIngest.refuses`)."""
    return _BASKET if entity == "order" and basket_locked(shown) else ()


def site_connector(port: MirrorPort, properties: Sequence[str] = ()) -> SiteMirrored:
    """The engine's connector for the site over its mirror (a `MirrorStore(db, tenant, "site")`);
    `properties` are the codes of the order properties it carries (`property:<code>`)."""
    extra = {property_field(code) for code in properties}
    fields = {**SITE_FIELDS, "order": SITE_FIELDS["order"] | extra}
    return SiteMirrored(SYSTEM, port, fields=fields, creates=SITE_CREATES)
