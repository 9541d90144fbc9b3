"""The sale (orders) side of the exchange: init, query, success, documents from 1C, info (§1.7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from obmen_sandbox.site.cml import CmlError, read_documents
from obmen_sandbox.site.export import cp1251_document, orders_xml
from obmen_sandbox.site.files import UnsafeInput
from obmen_sandbox.site.orders import STATUSES
from obmen_sandbox.site.protocol import failure, init, reply, run_import, upload
from obmen_sandbox.site.state import Fault, Session, SiteState, Steps

__all__ = ["SALE_MODES"]

Handler = Callable[[SiteState, Session, Request, Fault | None], Awaitable[Response]]


def _xml(body: bytes) -> Response:
    # Bitrix sends the orders with this header (BX16 sale L584-602, §1.7 point 3).
    return Response(body, media_type="application/xml; charset=windows-1251")


async def _init(state: SiteState, session: Session, request: Request, fault: Fault | None) -> Response:
    return init(state, session, request, "sale")


async def _query(state: SiteState, session: Session, request: Request, fault: Fault | None) -> Response:
    """Orders changed on the site and not acknowledged yet; remembered until 1C says `success`."""
    orders = state.book.to_export()
    session.query_versions = {o.id: o.version for o in orders}
    return _xml(orders_xml(orders, state.book, state.catalog.catalog_id, state.now()))


async def _success(state: SiteState, session: Session, request: Request, fault: Fault | None) -> Response:
    """1C received the orders of the last `query`: mark them exported (§1.7 point 4)."""
    if session.query_versions is not None:
        state.book.acknowledge(session.query_versions)
        session.query_versions = None
    return reply("success")


def document_steps(state: SiteState, session: Session, filename: str) -> Steps:
    """Read 1C's documents whole, then update (or create) the orders they name (§2.7)."""
    path = session.run.resolve(filename)
    if not path.is_file():
        raise UnsafeInput(f"Файл {filename} не найден / file not found")
    docs = read_documents(path)
    yield f"Файл прочитан. Документов: {len(docs)}."
    names = {xml_id: offer.name for xml_id, offer in state.catalog.offers.items()}
    counts = {"updated": 0, "created": 0, "skipped": 0}
    for doc in docs:
        if doc.operation and doc.operation != "Заказ товара":
            counts["skipped"] += 1  # payments and shipments as separate documents are not modelled
            continue
        counts[state.book.apply_document(doc, names)] += 1
    session.run.forget(filename)
    return (
        f"Загрузка документов завершена. Обновлено: {counts['updated']}, создано: {counts['created']}, "
        f"пропущено: {counts['skipped']}."
    )


async def _file(state: SiteState, session: Session, request: Request, fault: Fault | None) -> Response:
    """Store a document file; with the old protocol (no `version` at init) import it at once (§1.7)."""
    stored = await upload(state, session, request)
    if session.version or not bytes(stored.body).startswith(b"success"):
        return stored
    filename = request.query_params.get("filename", "")
    steps = document_steps(state, session, filename)
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return reply("success", str(done.value))
    except (CmlError, UnsafeInput) as exc:
        return failure(str(exc))


async def _import(state: SiteState, session: Session, request: Request, fault: Fault | None) -> Response:
    filename = request.query_params.get("filename", "")
    return await run_import(state, session, filename, lambda: document_steps(state, session, filename), fault)


def info_xml(state: SiteState) -> bytes:
    """Statuses and payment systems for mapping in 1C (BX16 L530-563)."""
    root = etree.Element("Справочник")
    # Bitrix's tag starts with a Latin C (§1.7); the Cyrillic spelling follows for newer readers.
    for tag in ("Cтатусы", "Статусы"):
        block = etree.SubElement(root, tag)
        for key, name in STATUSES.items():
            _element(block, key, name)
    pays = etree.SubElement(root, "ПлатежныеСистемы")
    for name, pid in state.book.pay_systems.items():
        _element(pays, str(pid), name)
    return cp1251_document(root)


def _element(parent: etree._Element, key: str, name: str) -> None:
    elem = etree.SubElement(parent, "Элемент")
    etree.SubElement(elem, "Ид").text = key
    etree.SubElement(elem, "Название").text = name


async def _info(state: SiteState, session: Session, request: Request, fault: Fault | None) -> Response:
    return _xml(info_xml(state))


SALE_MODES: dict[str, Handler] = {
    "init": _init,
    "query": _query,
    "success": _success,
    "file": _file,
    "import": _import,
    "info": _info,
}
