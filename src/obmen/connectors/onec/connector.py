"""The 1C connector: a mirrored, pull-only partner carrying what CommerceML can say (ARCHITECTURE §2.7).

Reads come from the 1C mirror that exchange uploads fill; writes go to the outbox that 1C collects with
`mode=query` (docs/commerceml.md §1.7). Only orders and their customers travel towards 1C, so only
those can be created there; the catalog is 1C's own (the default policy makes 1C its owner).
"""

from __future__ import annotations

from collections.abc import Mapping

from obmen.connectors.mirrored import Mirrored, MirrorPort

__all__ = ["ONEC_CREATES", "ONEC_FIELDS", "SYSTEM", "onec_connector"]

SYSTEM = "onec"

#: Canonical fields a CommerceML exchange carries, per entity (docs/commerceml.md §2).
ONEC_FIELDS: Mapping[str, frozenset[str]] = {
    "category": frozenset({"name", "xml_id", "parent", "active"}),
    "product": frozenset(
        {
            "name",
            "xml_id",
            "article",
            "barcode",
            "description",
            "categories",
            "unit",
            "vat_rate",
            "properties",
            "images",
            "active",
        }
    ),
    "offer": frozenset(
        {"product", "name", "xml_id", "article", "barcode", "characteristics", "prices", "stock", "active"}
    ),
    "price_type": frozenset({"name", "currency", "xml_id"}),
    "warehouse": frozenset({"name", "xml_id"}),
    "counterparty": frozenset({"kind", "name", "phones", "emails", "requisites", "address"}),
    "order": frozenset(
        {
            "number",
            "date",
            "status",
            "customer",
            "site",
            "lines",
            "delivery",
            "payments",
            "total",
            "comment",
            "external_numbers",
            "cancelled",
        }
    ),
}
#: What obmen may create in 1C: orders placed elsewhere, and their customers (inside the orders).
ONEC_CREATES = frozenset({"order", "counterparty"})


def onec_connector(port: MirrorPort) -> Mirrored:
    """The engine's connector for 1C over its mirror (a `MirrorStore(db, tenant, "onec")`)."""
    return Mirrored(SYSTEM, port, fields=ONEC_FIELDS, creates=ONEC_CREATES)
