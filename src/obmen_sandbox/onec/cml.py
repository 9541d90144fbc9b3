"""Hardened CommerceML reading helpers: local names, no DTD, no entities, no network.

See §6 (docs/protocols/commerceml.md).

The namespace of a CommerceML file varies and lies (none, `commerceml_2`, `commerceml_210` with
`ВерсияСхемы="2.08"`, §1.11), so everything here matches elements by their local name.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

from obmen_sandbox.xmlsafe import has_doctype, iterparse, parser

__all__ = [
    "CmlError",
    "child",
    "children",
    "decimal",
    "local",
    "parse_bytes",
    "release",
    "requisites",
    "serialize",
    "stream",
    "text",
]


class CmlError(ValueError):
    """A CommerceML document that is unsafe or malformed; the message says which and where."""


def local(element: etree._Element) -> str:
    """The local name of an element (`{urn:1C.ru:commerceml_2}Товар` → `Товар`)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _refuse_doctype(element: etree._Element, where: str) -> None:
    if has_doctype(element):
        raise CmlError(f"{where}: a DOCTYPE is refused (docs/protocols/commerceml.md §6)")


def parse_bytes(data: bytes, where: str = "document") -> etree._Element:
    """Parse a whole (small) document held in memory, e.g. a `mode=query` answer."""
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise CmlError(f"{where}: not well-formed XML: {exc}") from exc
    _refuse_doctype(root, where)
    return root


def stream(path: Path, where: str) -> Iterator[tuple[str, etree._Element, tuple[str, ...]]]:
    """Yield (event, element, path of ancestor local names) for a large file, memory bounded by the caller.

    The caller clears what it consumed (`release`); the path lets it tell `Склады/Склад` (a warehouse)
    from `Предложение/Склад` (stock) without keeping the tree.
    """
    with path.open("rb") as handle:
        yield from _walk(iterparse(handle), where)


def _walk(
    context: Iterator[tuple[str, Any]], where: str
) -> Iterator[tuple[str, etree._Element, tuple[str, ...]]]:
    path: list[str] = []
    checked = False
    try:
        for event, element in context:
            if not checked:
                _refuse_doctype(element, where)
                checked = True
            name = local(element)
            if event == "start":
                yield event, element, tuple(path)
                path.append(name)
            else:
                path.pop()
                yield event, element, tuple(path)
    except etree.XMLSyntaxError as exc:
        raise CmlError(f"{where}: not well-formed XML: {exc}") from exc


def release(element: etree._Element) -> None:
    """Drop a consumed element and its already consumed siblings so memory stays flat."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    """Direct children with the given local name."""
    for item in element:
        if local(item) == name:
            yield item


def child(element: etree._Element, *names: str) -> etree._Element | None:
    """The first descendant along a path of local names (`child(e, "Группы", "Ид")`)."""
    current: etree._Element | None = element
    for name in names:
        if current is None:
            return None
        current = next(children(current, name), None)
    return current


def text(element: etree._Element | None, *names: str) -> str:
    """Stripped text of the element at the path, or "" (values may be space-padded, §2.7)."""
    found = child(element, *names) if element is not None and names else element
    if found is None or found.text is None:
        return ""
    return found.text.strip()


def decimal(value: str, where: str) -> Decimal:
    """A CommerceML number; 1C writes a dot, some custom setups a comma (§4 problem 5)."""
    cleaned = value.replace("\xa0", "").replace(" ", "").replace(",", ".")
    try:
        return Decimal(cleaned)
    except InvalidOperation as exc:
        raise CmlError(f"{where}: {value!r} is not a number") from exc


def requisites(element: etree._Element) -> dict[str, str]:
    """`ЗначенияРеквизитов/ЗначениеРеквизита` as a name → value mapping (first value of each)."""
    found: dict[str, str] = {}
    block = child(element, "ЗначенияРеквизитов")
    if block is None:
        return found
    for item in children(block, "ЗначениеРеквизита"):
        found.setdefault(text(item, "Наименование"), text(item, "Значение"))
    return found


def serialize(root: etree._Element) -> bytes:
    """UTF-8 with a BOM and a double-quoted declaration, as UT 11 writes its files (§1.9, §2.1)."""
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    return b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n' + body
