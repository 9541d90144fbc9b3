"""The sandboxes' one hardened XML setup: no entities, no DTD, no network, no huge trees, no DOCTYPE.

Both CommerceML emulators (the site and 1C) read files from outside through it, as
docs/protocols/commerceml.md §6 asks of anyone who does.
"""

from __future__ import annotations

from typing import IO, Any

from lxml import etree

__all__ = ["has_doctype", "iterparse", "parser"]

_HARDENED: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def parser() -> etree.XMLParser:
    """A parser for a whole document held in memory."""
    return etree.XMLParser(**_HARDENED)


def iterparse(source: IO[bytes]) -> Any:
    """Start and end events over a stream, with the hardened settings."""
    return etree.iterparse(source, events=("start", "end"), **_HARDENED)


def has_doctype(element: etree._Element) -> bool:
    """Whether the document of `element` declares a DOCTYPE (checked on the root's start event)."""
    info = element.getroottree().docinfo
    # lxml-stubs lack `DocInfo.doctype`; lxml has it (the DOCTYPE line, "" when there is none).
    return bool(getattr(info, "doctype", "")) or info.internalDTD is not None
