"""`/bitrix/admin/1c_exchange.php`: the site side of «Обмен с сайтом», catalog modes.

See docs/protocols/commerceml.md §1.

Work that takes time runs in step-wise imports answering `progress`, so each HTTP call stays short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from obmen_sandbox.site.cml import OfferRec, ProductRec, read_catalog_file
from obmen_sandbox.site.files import UnsafeInput
from obmen_sandbox.site.protocol import (
    COOKIE,
    checkauth,
    failure,
    find_session,
    init,
    reply,
    run_import,
    upload,
)
from obmen_sandbox.site.sale import SALE_MODES
from obmen_sandbox.site.state import Fault, Session, SiteState, Steps

__all__ = ["exchange_endpoint"]

HTML_PAGE = (
    "<html><head><title>Ошибка</title></head><body><b>Fatal error</b>: Allowed memory size exhausted "
    "in <b>/home/bitrix/www/bitrix/modules/main/tools.php</b></body></html>"
)


def catalog_steps(state: SiteState, session: Session, filename: str) -> Steps:
    """The step-wise import of one catalog file (after BX16 catalog L355-611, §1.5)."""
    if session.run.pending_zip is not None:
        session.run.unzip()
        yield "Распаковка архива завершена."
    path = session.run.resolve(filename)
    if not path.is_file():
        raise UnsafeInput(f"Файл {filename} не найден / file not found")
    data = read_catalog_file(path)
    yield "Файл прочитан. / File read."
    catalog = state.catalog
    catalog.apply_header(data)
    if data.groups:
        for group in data.groups:
            catalog.apply_group(group, state.clock())
        yield f"Группы импортированы: {len(data.groups)}."
    items: list[ProductRec | OfferRec] = [*data.products, *data.offers]
    portion = max(state.options.portion, 1)
    for start in range(0, len(items), portion):
        for item in items[start : start + portion]:
            if isinstance(item, ProductRec):
                catalog.apply_product(item, state.clock())
            else:
                catalog.apply_offer(item, state.clock())
        yield f"Обработано {min(start + portion, len(items))} из {len(items)} элементов."
    if not data.only_changes:
        session.full_kinds |= data.kinds & {"catalog", "offers"}
    session.run.forget(filename)
    return "Импорт успешно завершен."


def deactivate(state: SiteState, session: Session, request: Request) -> Response:
    """Deactivate what full files of this run did not touch since `timestamp` (§1.6)."""
    raw = request.query_params.get("timestamp", "")
    stamp = int(raw) if raw.isdigit() else 0
    if stamp <= 0:
        return failure("Не задано время начала выгрузки (timestamp). / timestamp is missing.")
    # The checkauth timestamp has whole seconds; the session remembers the exact start behind it.
    before = session.started if stamp == session.timestamp else float(stamp)
    count = state.catalog.deactivate(before, session.full_kinds)
    return reply("success", f"Деактивация элементов завершена. Деактивировано: {count}.")


async def _catalog(
    state: SiteState, session: Session, request: Request, mode: str, fault: Fault | None
) -> Response:
    filename = request.query_params.get("filename", "")
    if mode == "init":
        return init(state, session, request, "catalog")
    if mode == "file":
        return await upload(state, session, request)
    if mode == "import":
        return await run_import(
            state, session, filename, lambda: catalog_steps(state, session, filename), fault
        )
    if mode == "deactivate":
        return deactivate(state, session, request)
    if mode == "complete":
        return reply("success", "Обмен завершен.")
    return failure("Неизвестная команда.")


async def _fault_response(state: SiteState, request: Request, fault: Fault) -> Response | None:
    if fault.kind == "status":
        return Response(b"Service Unavailable", status_code=fault.status, media_type="text/plain")
    if fault.kind == "html":
        return reply(HTML_PAGE)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
    elif fault.kind == "drop_session":
        state.sessions.pop(request.cookies.get(COOKIE, ""), None)
    return None


async def _dispatch(state: SiteState, request: Request, type_: str, mode: str) -> Response:
    fault = state.take_fault(type_, mode)
    if fault is not None and (early := await _fault_response(state, request, fault)) is not None:
        return early
    if type_ not in ("catalog", "sale"):
        return failure("Неизвестный тип обмена. / Unknown exchange type.")
    if mode == "checkauth":
        return checkauth(state, request, type_)
    found = find_session(state, request)
    if isinstance(found, str):
        return failure(found)
    if type_ == "catalog":
        return await _catalog(state, found, request, mode, fault)
    handler = SALE_MODES.get(mode)
    if handler is None:
        return failure("Неизвестная команда.")
    return await handler(state, found, request, fault)


def _posted_mode(body: bytes) -> str:
    # Bitrix also reads `$_POST["mode"]` (BX16 sale L190); only when the query string has no mode.
    values = parse_qs(body.decode("latin-1"), max_num_fields=20).get("mode", [""])
    return values[0]


def exchange_endpoint(state: SiteState) -> Callable[[Request], object]:
    """The Starlette endpoint bound to `state`."""

    async def endpoint(request: Request) -> Response:
        # 1C may send `mode` in a POST form for query (§1.1); the body of `file` is raw, never parsed.
        type_ = request.query_params.get("type", "")
        mode = request.query_params.get("mode", "")
        if not mode and request.method == "POST":
            mode = _posted_mode(await request.body())
        async with state.lock:
            response = await _dispatch(state, request, type_, mode)
        state.record(
            {
                "method": request.method,
                "type": type_,
                "mode": mode,
                "filename": request.query_params.get("filename"),
                "status": response.status_code,
                "reply": bytes(response.body[:200]).decode("cp1251", errors="replace").split("\n", 1)[0],
            }
        )
        return response

    return endpoint
