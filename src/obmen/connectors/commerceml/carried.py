"""What a CommerceML exchange can say about each entity, in canonical fields (docs/protocols/commerceml.md).

See §2.

The 1C side and the site side both speak CommerceML; each narrows or widens this to what its partner
really keeps (the connectors of `onec` and `site`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CARRIED"]

CARRIED: Mapping[str, frozenset[str]] = {
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
