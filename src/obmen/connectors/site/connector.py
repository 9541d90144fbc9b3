"""The site connector: a mirror of the site's orders and an outbox of what obmen pushes to it.

obmen is the site's 1C (docs/architecture.md §2.7, "the same in reverse"): it polls the site's orders with
`mode=query` into the site mirror and pushes catalog files and order documents from the outbox (the
driver is `obmen.connectors.site.driver`). Catalog objects are created on the site under their 1C
`Ид` (`xml_id`): a site that was fed by 1C before already knows them by it, and an offer's `Ид` must begin
with its
product's (`product#characteristic`, docs/protocols/commerceml.md §2.4), so the canonical id cannot serve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from obmen.config.mapping import property_field
from obmen.connectors.base import Create, WriteOp, WriteResult
from obmen.connectors.commerceml.carried import CARRIED
from obmen.connectors.mirrored.connector import Mirrored, MirrorPort

__all__ = ["SITE_CREATES", "SITE_FIELDS", "SYSTEM", "SiteMirrored", "site_connector"]

SYSTEM = "site"
_CATALOG = frozenset({"category", "product", "offer", "price_type", "warehouse"})

#: What a site takes from a CommerceML exchange, per entity: all of it but VAT rates and images.
SITE_FIELDS: Mapping[str, frozenset[str]] = {
    **CARRIED,
    "product": CARRIED["product"] - {"vat_rate", "images"},
}
SITE_CREATES = frozenset(_CATALOG | {"order", "counterparty"})


class SiteMirrored(Mirrored):
    """A mirrored connector whose catalog creates carry the object's 1C `Ид` as their site id."""

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Queue documents; a catalog create with an `xml_id` is keyed by it, not by the canonical id."""
        results = await super().write([_keyed(op) for op in ops])
        return [
            WriteResult(original, result.external_id, result.error)
            for original, result in zip(ops, results, strict=True)
        ]


def _keyed(op: WriteOp) -> WriteOp:
    if isinstance(op, Create) and op.entity in _CATALOG and op.fields.get("xml_id"):
        # The same create retried lands on the same outbox row: idempotent by construction.
        return Create(op.entity, str(op.fields["xml_id"]), op.fields)
    return op


def site_connector(port: MirrorPort, properties: Sequence[str] = ()) -> SiteMirrored:
    """The engine's connector for the site over its mirror (a `MirrorStore(db, tenant, "site")`);
    `properties` are the codes of the order properties it carries (`property:<code>`)."""
    extra = {property_field(code) for code in properties}
    fields = {**SITE_FIELDS, "order": SITE_FIELDS["order"] | extra}
    return SiteMirrored(SYSTEM, port, fields=fields, creates=SITE_CREATES)
