"""What the demo reads in a CommerceML answer: the customer an order document carries.

It reads with obmen's own codec (docs/protocols/commerceml.md §2.6), the one hardened parser.
"""

from __future__ import annotations

import io
from typing import Any

from obmen.connectors.commerceml import read
from obmen.connectors.commerceml.items import Document

__all__ = ["customer_of", "digits"]


def digits(phone: Any) -> str:
    """The last ten digits of a phone number, however it is written."""
    return "".join(ch for ch in str(phone) if ch.isdigit())[-10:]


def customer_of(xml: bytes, number: str) -> dict[str, Any] | None:
    """The `Контрагент` (its `Ид` and contact values) of the order document numbered `number`."""
    for item in read(io.BytesIO(xml), name="query answer"):
        if isinstance(item, Document) and item.number == number:
            party = item.counterparties[0] if item.counterparties else None
            if party is None:
                return {"id": "", "contacts": []}
            return {"id": party.id, "contacts": [value for _, value in party.contacts]}
    return None
