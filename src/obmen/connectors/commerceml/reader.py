"""Streaming, hardened reader of CommerceML files (docs/protocols/commerceml.md §2, §6).

lxml `iterparse` sees only the elements the codec cares about (tag filter with `{*}`, so any namespace
or none); each item is built when its element ends and the element is then freed with its earlier
siblings, so memory stays flat however large the file. The parser never loads a DTD, never resolves an
entity, never touches the network; a DOCTYPE is refused.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from lxml import etree

from obmen.connectors.commerceml import documents as D
from obmen.connectors.commerceml import elements as E
from obmen.connectors.commerceml.context import Known, KnownMany, RunContext
from obmen.connectors.commerceml.items import (
    DocumentKind,
    FileInfo,
    Item,
    Offer,
    Product,
    Section,
    SectionKind,
    Unchanged,
)
from obmen.errors import ProtocolError

__all__ = ["Source", "read", "read_classifier", "sniff"]

Source = str | os.PathLike[str] | IO[bytes]

_SECTIONS = {
    "Классификатор": SectionKind.CLASSIFIER,
    "Каталог": SectionKind.CATALOG,
    "ПакетПредложений": SectionKind.OFFERS,
    "ИзмененияПакетаПредложений": SectionKind.OFFERS_CHANGES,
}
_KINDS = {
    "Каталог": DocumentKind.CATALOG,
    "ПакетПредложений": DocumentKind.OFFERS,
    "ИзмененияПакетаПредложений": DocumentKind.OFFERS_CHANGES,
    "Документ": DocumentKind.DOCUMENTS,
}
#: Lists whose start means the section header (`Ид`, `Наименование`…) has been read.
_LISTS = frozenset({"Группы", "Свойства", "ТипыЦен", "Склады", "Товары", "Предложения"})
_ITEMS = frozenset(
    {"Группа", "Свойство", "ТипЦены", "Склад", "Товар", "Предложение", "Документ", "Контрагент"}
)
#: Documents sit under the root, or under `Контейнер` (Bitrix's newest order export wraps each order).
_DOC_PARENTS = frozenset({"КоммерческаяИнформация", "Контейнер"})
_TAGS = [
    f"{{*}}{name}"
    for name in ("КоммерческаяИнформация", "Контейнер", "Контрагенты", *_SECTIONS, *_LISTS, *_ITEMS)
]
#: A section's parent: the root, or nothing when a split classifier file has `Классификатор` as its root.
_TOP = frozenset({"КоммерческаяИнформация", None})
_HEAD = 65536
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BLANKS = frozenset(b" \t\r\n")
#: What may come before the root besides blanks: the declaration and other PIs, comments.
_PROLOG_PARTS = ((b"<?", b"?>"), (b"<!--", b"-->"))
_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
#: Lists of products and offers: the classifier (groups, properties, price types, warehouses) is before them.
_ITEM_LISTS = frozenset({"Товары", "Предложения"})
#: Products and offers whose digests are asked about in one `known_many` call.
_ASK = 500


def _name(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def _check_head(head: bytes, name: str) -> None:
    """Refuse a DOCTYPE and what libxml2 would misread silently (a windows-1251 label on UTF-8, §1.9)."""
    if head.startswith(_BOMS):
        raise ProtocolError(
            f"{name}: UTF-16/32 is not a CommerceML encoding (UTF-8 or windows-1251 expected)"
        )
    body = head.removeprefix(codecs.BOM_UTF8)
    if (at := _doctype_at(body)) is not None:
        line = body.count(b"\n", 0, at) + 1
        raise ProtocolError(f"{name}: line {line}: a DOCTYPE is not allowed in CommerceML")
    match = _DECLARED.match(body)
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    utf8 = head.startswith(codecs.BOM_UTF8) or (not body.isascii() and _is_utf8(body))
    if declared.replace("_", "-") in ("windows-1251", "cp1251") and utf8:
        raise ProtocolError(f"{name}: line 1: declared encoding windows-1251, but the bytes are UTF-8")


def _doctype_at(head: bytes) -> int | None:
    """Where a DOCTYPE stands in the prolog (after the declaration, blanks, comments and PIs), if it does.

    Refused before libxml2 reads it, so an entity bomb is named as what it is, whatever libxml2's own
    amplification limit says first. One pass over the head: a pattern with a repeated lazy group tried
    every way of splitting a prolog of many instructions and hung on one (found by tests/fuzz).
    """
    at = 0
    while at < len(head):
        if head[at] in _BLANKS:
            at += 1
            continue
        for opener, closer in _PROLOG_PARTS:
            if head.startswith(opener, at):
                end = head.find(closer, at + len(opener))
                if end < 0:
                    return None
                at = end + len(closer)
                break
        else:
            return at if head.startswith(b"<!DOCTYPE", at) else None
    return None


def _is_utf8(data: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(data, final=False)  # a multi-byte character cut at the end is fine
    except UnicodeDecodeError:
        return False
    return True


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read for the encoding check."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            chunk = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(chunk) :]
            return chunk
        return self._rest.read(size)


@contextmanager
def _open(source: Source, name: str) -> Iterator[IO[bytes]]:
    """The stream to hand to iterparse, after the head check; a file we open is closed even on early exit."""
    if not isinstance(source, str | os.PathLike):
        head = source.read(_HEAD)
        _check_head(head, name)
        yield _Prefixed(head, source)  # type: ignore[misc]
        return
    try:
        fh = open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ProtocolError(f"{name}: cannot read: {exc.strerror}") from exc
    with fh:
        _check_head(fh.read(_HEAD), name)
        fh.seek(0)
        yield fh


def _events(source: Source, name: str) -> Iterator[tuple[str, Any]]:
    """Hardened iterparse events; the DOCTYPE check runs on the root's start, before any content."""
    with _open(source, name) as stream:
        yield from _parse(stream, name)


def _parse(stream: IO[bytes], name: str) -> Iterator[tuple[str, Any]]:
    parser = etree.iterparse(
        stream,
        events=("start", "end"),
        tag=_TAGS,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    first = True
    for event, el in parser:
        if first:
            docinfo = el.getroottree().docinfo
            if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
                raise ProtocolError(f"{name}: line {E.line_of(el)}: a DOCTYPE is not allowed in CommerceML")
            first = False
        yield event, el


def _free(el: Any) -> None:
    """Drop a handled element and the siblings before it (flat memory)."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


class _Walk:
    """The state of one file: the stack of open elements and what is pending output."""

    def __init__(self, context: RunContext, name: str) -> None:
        self.context, self.name = context, name
        self.stack: list[str] = []
        self.groups: list[list[Any]] = []  # [element, emitted group id or None]
        self.section: Any = None
        self.header_done = False
        self.info: FileInfo | None = None
        self.root: Any = None
        self.buffer: list[Item] = []
        self.known: KnownMany | None = None
        #: Items ended but not built yet, waiting for one `known` question about all of them:
        #: (kind, id, digest, element).
        self.pending: list[tuple[str, str, str, Any]] = []

    def settle(self) -> Iterator[Item]:
        """Ask about the pending items at once; build those the caller does not hold, in file order."""
        if not self.pending or self.known is None:
            return
        pending, self.pending = self.pending, []
        held = self.known([(kind, key, digest) for kind, key, digest, _ in pending if key])
        for kind, key, digest, el in pending:
            if key and (kind, key) in held:
                yield Unchanged(kind=kind, id=key, digest=digest)
            else:
                yield (E.product if kind == "product" else E.offer)(el, digest)
            el.clear(keep_tail=False)

    def inside(self, name: str) -> bool:
        return name in self.stack

    def header(self) -> Iterator[Item]:
        if self.section is None or self.header_done:
            return
        self.header_done = True
        el, kind = self.section, _SECTIONS[E.local(self.section.tag)]
        fields = {tag: E.text_of(child) for tag, child in E.kids(el) if tag not in _LISTS}
        section_id = fields.get("Ид", "")
        if kind is SectionKind.CLASSIFIER:
            self.context.classifier.id = section_id or self.context.classifier.id
        yield Section(
            kind=kind,
            id=section_id,
            name=fields.get("Наименование", ""),
            classifier_id=fields.get("ИдКлассификатора") or None,
            catalog_id=fields.get("ИдКаталога") or None,
            changes_only=(el.get("СодержитТолькоИзменения") or "").strip().lower() == "true",
        )

    def file_info(self, kind: DocumentKind) -> Iterator[Item]:
        if self.info is None:
            root = self.root
            namespace = root.tag[1 : root.tag.index("}")] if root.tag.startswith("{") else None
            self.info = FileInfo(
                kind=kind,
                schema_version=root.get("ВерсияСхемы", ""),
                generated_at=root.get("ДатаФормирования"),
                namespace=namespace,
            )
            yield self.info
            yield from self.buffer
            self.buffer.clear()

    def emit(self, items: Iterator[Item]) -> Iterator[Item]:
        if self.info is None:
            self.buffer.extend(items)  # classifier items wait until the file's kind is known
        else:
            yield from items


def _start(walk: _Walk, tag: str, el: Any) -> Iterator[Item]:
    parent = walk.stack[-1] if walk.stack else None
    if tag in _SECTIONS and parent in _TOP:
        walk.section, walk.header_done = el, False
        if tag in _KINDS:
            yield from walk.file_info(_KINDS[tag])
    elif tag == "Документ" and parent in _DOC_PARENTS:
        yield from walk.file_info(DocumentKind.DOCUMENTS)
    elif tag == "Контрагенты" and parent == "КоммерческаяИнформация":
        # Counterparties alone (docs/protocols/commerceml.md §1.11), not a classifier: they are read.
        yield from walk.file_info(DocumentKind.COUNTERPARTIES)
    elif tag in _LISTS and parent in _SECTIONS:
        yield from walk.emit(walk.header())
    elif tag == "Группа" and walk.groups and walk.inside("Классификатор"):
        yield from walk.emit(_group_out(walk, walk.groups[-1]))
    if tag == "Группа" and parent == "Группы" and walk.inside("Классификатор"):
        walk.groups.append([el, None])
    walk.stack.append(tag)


def _group_out(walk: _Walk, entry: list[Any]) -> Iterator[Item]:
    if entry[1] is None:
        parent_id = walk.groups[-2][1] if len(walk.groups) > 1 and walk.groups[-1] is entry else None
        item = E.group(entry[0], parent_id)
        entry[1] = item.id
        walk.context.classifier.groups[item.id] = item
        yield item


def _end(walk: _Walk, tag: str, el: Any) -> Iterator[Item]:
    walk.stack.pop()
    parent = walk.stack[-1] if walk.stack else None
    classifier = walk.context.classifier
    if walk.groups and walk.groups[-1][0] is el:
        yield from walk.emit(_group_out(walk, walk.groups[-1]))
        walk.groups.pop()
        if not walk.groups:
            _free(el)
    elif tag == "Свойство" and parent == "Свойства" and walk.section is not None:
        prop = E.property_(el)
        classifier.add_property(prop)
        yield from walk.emit(iter((prop,)))
        _free(el)
    elif tag == "ТипЦены" and parent == "ТипыЦен":
        price_type = E.price_type(el)
        classifier.add_price_type(price_type)
        yield from walk.emit(iter((price_type,)))
        _free(el)
    elif tag == "Склад" and parent == "Склады" and not walk.inside("Предложение"):
        warehouse = E.warehouse(el)
        classifier.warehouses[warehouse.id] = warehouse
        yield from walk.emit(iter((warehouse,)))
        _free(el)
    elif tag == "Товар" and parent == "Товары" and walk.inside("Каталог"):
        yield from _item(walk, "product", el)
    elif tag == "Предложение" and parent == "Предложения":
        if len(el) or el.text:  # ERP writes empty `<Предложение/>` elements (erp-2.07 offers.xml)
            yield from _item(walk, "offer", el)
        else:
            _free(el)
    elif tag == "Документ" and parent in _DOC_PARENTS:
        yield D.document(el)
        _free(el)
    elif tag in _SECTIONS and parent in _TOP:
        yield from walk.emit(walk.header())
        walk.section = None
    elif tag == "Контрагент" and parent == "Контрагенты" and walk.stack[:1] == ["КоммерческаяИнформация"]:
        if len(walk.stack) == 2:  # the file's own list, not a document's buyers
            yield D.counterparty(el)
            _free(el)
    elif tag == "Контейнер":
        _free(el)
    if not walk.stack:  # the root closed: a file of only a classifier, or an empty answer
        kind = DocumentKind.CLASSIFIER if walk.buffer or len(el) else DocumentKind.EMPTY
        yield from walk.file_info(kind)


def _item(walk: _Walk, kind: str, el: Any) -> Iterator[Item]:
    """A product or offer; with `known`, held back until a batch of them can be asked about at once.

    The digest covers the element's bytes and the classifier revision (property values and price-type
    currencies feed the mapping), so an unchanged re-import never parses or maps an unchanged item.
    A held element is detached from the tree (its earlier siblings are freed) and cleared once built.
    """
    if walk.known is None:
        yield (E.product if kind == "product" else E.offer)(el)
        _free(el)
        return
    hasher = hashlib.blake2b(walk.context.classifier.revision.encode(), digest_size=16)
    # UTF-8, not lxml's default ASCII: escaping every Cyrillic letter as `&#NNNN;` made the digest cost
    # four times as much (the same bytes whatever the file's own encoding, so the digest stays stable).
    hasher.update(etree.tostring(el, with_tail=False, encoding="utf-8"))
    walk.pending.append((kind, E.item_key(el), hasher.hexdigest(), el))
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]
    if len(walk.pending) >= _ASK:
        yield from walk.settle()


def _walk(
    source: Source,
    context: RunContext,
    name: str,
    stop_at_kind: bool,
    known: KnownMany | None,
    stop_at_items: bool = False,
) -> Iterator[Item]:
    walk = _Walk(context, name)
    walk.known = known
    for item in _items(walk, source, name, stop_at_kind, stop_at_items):
        if walk.pending and not isinstance(item, Unchanged | Product | Offer):
            yield from walk.settle()  # held items come first: the file's order is kept
        yield item
    yield from walk.settle()


def _items(
    walk: _Walk, source: Source, name: str, stop_at_kind: bool, stop_at_items: bool = False
) -> Iterator[Item]:
    for event, el in _events(source, name):
        tag = E.local(el.tag)
        if stop_at_items and event == "start" and tag in _ITEM_LISTS:
            return
        if walk.root is None:
            if tag not in ("КоммерческаяИнформация", "Классификатор"):
                raise ProtocolError(
                    f"{name}: line {E.line_of(el)}: the root is <{tag}>, not <КоммерческаяИнформация>"
                )
            walk.root = el
        handler = _start if event == "start" else _end
        for item in handler(walk, tag, el):
            yield item
            if stop_at_kind and isinstance(item, FileInfo):
                return
    if walk.root is None:
        raise ProtocolError(f"{name}: no <КоммерческаяИнформация> root element")


def read(
    source: Source,
    context: RunContext | None = None,
    *,
    name: str | None = None,
    known: Known | None = None,
    known_many: KnownMany | None = None,
) -> Iterator[Item]:
    """Stream the items of one CommerceML file: `FileInfo` first, then sections and their content.

    `context` carries the classifier across the files of a run (a fresh one if omitted). With `known`
    (asked per item) or `known_many` (asked about a few hundred items at once, for a caller that looks
    them up in a store), products and offers carry a `digest`, and those the caller already holds come
    as `Unchanged`. Any malformed input raises `ProtocolError` naming the file and line; no lxml
    exception escapes.
    """
    label = name or _name(source)
    context = context if context is not None else RunContext()
    context.files.append(label)
    if known is not None and known_many is None:
        ask = known
        known_many = lambda batch: {(k, i) for k, i, d in batch if ask(k, i, d)}  # noqa: E731
    try:
        yield from _walk(source, context, label, stop_at_kind=False, known=known_many)
    except E.BadValue as exc:
        raise ProtocolError(f"{label}: line {exc.line}: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        raise ProtocolError(f"{label}: line {exc.lineno}: {exc.msg}") from exc
    except (etree.LxmlError, LookupError, UnicodeError) as exc:
        raise ProtocolError(f"{label}: not readable as CommerceML XML: {exc}") from exc


def read_classifier(source: Source, context: RunContext, *, name: str | None = None) -> None:
    """Load a file's classifier into `context` without reading its products or offers.

    A file 1C sent again unchanged is not read (`onec.repeats`), but the files after it in the run map
    their items against its groups, properties and price types (§2.2, §2.4), which come before the items.
    """
    label = name or _name(source)
    context.files.append(label)
    try:
        for _ in _walk(source, context, label, stop_at_kind=False, known=None, stop_at_items=True):
            pass
    except E.BadValue as exc:
        raise ProtocolError(f"{label}: line {exc.line}: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        raise ProtocolError(f"{label}: line {exc.lineno}: {exc.msg}") from exc
    except (etree.LxmlError, LookupError, UnicodeError) as exc:
        raise ProtocolError(f"{label}: not readable as CommerceML XML: {exc}") from exc


def sniff(source: Source, *, name: str | None = None) -> DocumentKind:
    """The kind of a file by its content (the filename is only a hint, §1.11); reads only as far as needed."""
    label = name or _name(source)
    try:
        for item in _walk(source, RunContext(), label, stop_at_kind=True, known=None):
            if isinstance(item, FileInfo):
                return item.kind
    except E.BadValue as exc:
        raise ProtocolError(f"{label}: line {exc.line}: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        raise ProtocolError(f"{label}: line {exc.lineno}: {exc.msg}") from exc
    except (etree.LxmlError, LookupError, UnicodeError) as exc:
        raise ProtocolError(f"{label}: not readable as CommerceML XML: {exc}") from exc
    raise ProtocolError(f"{label}: no <КоммерческаяИнформация> root element")
