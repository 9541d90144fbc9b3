"""What the demo reads in a CommerceML answer: the customer an order document carries (commerceml.md §2.6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lxml import etree

__all__ = ["customer_of", "digits"]


def digits(phone: Any) -> str:
    """The last ten digits of a phone number, however it is written."""
    return "".join(ch for ch in str(phone) if ch.isdigit())[-10:]


def customer_of(xml: bytes, number: str) -> dict[str, Any] | None:
    """The `Контрагент` (its `Ид` and contact values) of the order document numbered `number`."""
    # A hardened parser, as for any file from outside (no entities, no network).
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    for document in _elements(etree.fromstring(xml, parser), "Документ"):
        if _text(document, "Номер") == number:
            party = next(_elements(document, "Контрагент"), None)
            contacts = [_text(c, "Значение") for c in _elements(party, "Контакт")]
            return {"id": _text(party, "Ид"), "contacts": contacts}
    return None


def _elements(root: etree._Element | None, name: str) -> Iterator[etree._Element]:
    """Descendants named `name` in any namespace (CommerceML files may or may not declare one)."""
    found = root.iter() if root is not None else iter(())
    return (el for el in found if isinstance(el.tag, str) and etree.QName(el).localname == name)


def _text(root: etree._Element | None, name: str) -> str:
    kids = list(root) if root is not None else []
    found = next((el for el in kids if isinstance(el.tag, str) and etree.QName(el).localname == name), None)
    return (found.text or "").strip() if found is not None else ""
