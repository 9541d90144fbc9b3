"""The HTTP side of the sandbox's OData interface and of the extension's HTTP service.

Routes of one publication (`/<publication>/…`, as Apache or IIS publishes an infobase):

    GET   odata/standard.odata/                      the service document (every published set)
    GET   odata/standard.odata/$metadata             EDMX
    GET   odata/standard.odata/<Set>?$filter=…&$select=…&$orderby=…&$top=…&$skip=…&$inlinecount=allpages
    GET   odata/standard.odata/<Set>(guid'…')
    GET   odata/standard.odata/<Register>/SliceLast(Condition='…',Period=datetime'…')   (or ?Condition=…)
    GET   odata/standard.odata/<Register>/Balance(Condition='…')
    POST  odata/standard.odata/<Set>                 create
    PATCH odata/standard.odata/<Set>(guid'…')        change (If-Match: DataVersion)
    POST  odata/standard.odata/<Document>(guid'…')/Post?PostingModeOperational=false   (and /Unpost)
          (incoming payments, `Document_ПоступлениеБезналичныхДенежныхСредств` and
          `Document_ПриходныйКассовыйОрдер`, are payments.py's)
    GET   hs/obmen/changes, POST hs/obmen/ack        the extension (extension.py)

Every call needs HTTP Basic with the publication's 1C user. Answers are JSON (`$format=json`,
`application/json` or `json;odata=nometadata`); this sandbox does not write Atom and says so.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from obmen_sandbox.onec.infobase import Counterparty, Infobase, Order, PaymentDocument
from obmen_sandbox.onec.odata import payments
from obmen_sandbox.onec.odata.extension import Extension
from obmen_sandbox.onec.odata.filters import FilterError, compile_filter, order_rows
from obmen_sandbox.onec.odata.rows import counterparty_row, order_row, partner_row
from obmen_sandbox.onec.odata.rows import rows_of as _rows_of
from obmen_sandbox.onec.odata.schema import ENTITY_SETS, metadata_xml
from obmen_sandbox.onec.odata.writes import ODataFault, create, patch, post

__all__ = ["ODataService"]

_SEGMENT = re.compile(r"^(?P<set>[^/(]+)(?:\((?P<key>[^)]*)\))?(?:/(?P<func>\w+)(?:\((?P<args>.*)\))?)?$")
_GUID_KEY = re.compile(r"^guid'([0-9a-fA-F-]{36})'$")
#: A register whose virtual tables are called on its own name, while its records are the `_RecordType` set.
_VIRTUAL_OWNERS = {"AccumulationRegister_ТоварыНаСкладах": "AccumulationRegister_ТоварыНаСкладах_RecordType"}
_ARG_SPLIT = re.compile(r",(?=\s*\w+\s*=)")


def rows_of(base: Infobase, name: str) -> list[dict[str, Any]]:
    """Every row of one entity set, the incoming payments' among them."""
    return payments.payment_rows(base, name) if name in payments.PAYMENT_SETS else _rows_of(base, name)


def _error(status: int, message: str, code: str = "-1") -> JSONResponse:
    body = {"odata.error": {"code": code, "message": {"lang": "ru", "value": message}}}
    return JSONResponse(body, status)


def _args(text: str) -> dict[str, str]:
    """`Condition='…',Period=datetime'…'` of a virtual table call.

    Clients send the condition's own quotes as they are (`Condition='X eq guid'…''`) or doubled; both
    are read: a value runs up to the next `,Name=` or the end, its outer quotes dropped.
    """
    args: dict[str, str] = {}
    for part in _ARG_SPLIT.split(text or ""):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        value = value.strip()
        if value.startswith("datetime'") and value.endswith("'"):
            value = value[len("datetime'") : -1]
        elif value.startswith("'") and value.endswith("'"):
            value = value[1:-1].replace("''", "'")
        args[name.strip()] = value
    return args


class ODataService:
    """The OData interface and the extension's HTTP service over one sandbox infobase."""

    def __init__(
        self,
        base: Callable[[], Infobase],
        *,
        publication: str,
        login: str,
        password: str,
        extension: Extension,
        changed: Callable[[int], None],
    ) -> None:
        self._base = base
        self.publication = publication.strip("/")
        self._login, self._password = login.encode(), password.encode()
        self.extension = extension
        #: Told, after every write, the revision from before it: the extension pings what the write changed.
        self._changed = changed
        #: HTTP statuses to answer instead of the next calls (the control API's faults).
        self.faults: list[int] = []
        self.requests = 0

    @property
    def path(self) -> str:
        """The OData root path of this publication."""
        return f"/{self.publication}/odata/standard.odata"

    def routes(self) -> list[BaseRoute]:
        """The publication's routes."""
        root = self.path
        hs = f"/{self.publication}/hs/obmen"
        return [
            Route(f"{root}/", self._guarded(self._service_document), methods=["GET"]),
            Route(f"{root}/$metadata", self._guarded(self._metadata), methods=["GET"]),
            Route(
                f"{root}/{{segment:path}}", self._guarded(self._dispatch), methods=["GET", "POST", "PATCH"]
            ),
            Route(f"{hs}/changes", self._guarded(self._hs_changes), methods=["GET"]),
            Route(f"{hs}/ack", self._guarded(self._hs_ack), methods=["POST"]),
        ]

    # -- plumbing ---------------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        ok_user = hmac.compare_digest(user, self._login)
        ok_password = hmac.compare_digest(password, self._password)
        return ok_user and ok_password

    def _guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            self.requests += 1
            if not self._authorised(request):
                return Response("Unauthorized", 401, headers={"WWW-Authenticate": 'Basic realm="1C"'})
            if self.faults:
                return _error(self.faults.pop(0), "Injected fault / сбой, заданный песочницей")
            try:
                return await handler(request)
            except ODataFault as exc:
                return _error(exc.status, str(exc), exc.code)
            except FilterError as exc:
                return _error(400, str(exc), "14")

        return guarded

    @staticmethod
    def _json_format(request: Request) -> str | None:
        """`full` or `none` (metadata), or None when the client asked for Atom."""
        fmt = request.query_params.get("$format", "")
        if fmt in ("json", "application/json"):
            return "full"
        if fmt.startswith("json;odata=nometadata") or fmt.startswith("application/json;odata=nometadata"):
            return "none"
        if not fmt and "json" in request.headers.get("accept", ""):
            return "full"
        return None

    def _reply(self, request: Request, body: dict[str, Any], context: str, status: int = 200) -> Response:
        mode = self._json_format(request)
        if mode is None:
            return _error(
                406, "Песочница отвечает только JSON: добавьте $format=json / the sandbox speaks JSON only"
            )
        if mode == "full":
            body = {
                "odata.metadata": f"{request.base_url}{self.path.lstrip('/')}/$metadata#{context}",
                **body,
            }
        return JSONResponse(body, status)

    # -- reads --------------------------------------------------------------------------------------------

    async def _service_document(self, request: Request) -> Response:
        sets = [{"name": name, "url": name} for name in ENTITY_SETS]
        return self._reply(request, {"value": sets}, "")

    async def _metadata(self, request: Request) -> Response:
        return Response(metadata_xml(), media_type="application/xml; charset=utf-8")

    async def _dispatch(self, request: Request) -> Response:
        match = _SEGMENT.match(request.path_params["segment"])
        name = match.group("set") if match else ""
        if match is not None and match.group("func") and name in _VIRTUAL_OWNERS:
            # `AccumulationRegister_X/Balance(…)`: the register's virtual table over its records.
            name = _VIRTUAL_OWNERS[name]
        if match is None or name not in ENTITY_SETS:
            raise ODataFault(404, f"Entity not found: {request.path_params['segment']}", "3")
        key = match.group("key")
        if key is not None:
            guid = _GUID_KEY.match(key.strip())
            if guid is None:
                raise ODataFault(400, f"Ключ {key!r}: ожидается guid'…' / a guid key is expected")
            key = guid.group(1).lower()
        func = match.group("func")
        if request.method == "PATCH" and key and not func:
            return await self._patch(request, name, key)
        if request.method == "POST":
            if key and func in ("Post", "Unpost"):
                before = self._base().revision
                if name in payments.PAYMENT_SETS:
                    target: Any = payments.post(self._base(), name, key, func)
                else:
                    target = post(self._base(), name, key, func)
                self._changed(before)
                return self._reply(request, self._row(target), f"{name}/@Element")
            if key is None and func is None:
                return await self._create(request, name)
            raise ODataFault(400, f"{request.method} {name}: не поддерживается / not supported")
        if func is not None:
            return self._virtual(request, name, func, match.group("args") or "")
        if key is not None:
            row = next((r for r in rows_of(self._base(), name) if r.get("Ref_Key") == key), None)
            if row is None:
                raise ODataFault(404, f"{name}({key}): объект не найден / not found", "3")
            return self._reply(request, self._select(row, request, name), f"{name}/@Element")
        return self._collection(request, name, rows_of(self._base(), name))

    def _select(self, row: dict[str, Any], request: Request, name: str) -> dict[str, Any]:
        select = request.query_params.get("$select")
        if not select:
            return row
        wanted = [part.strip() for part in select.split(",") if part.strip()]
        unknown = [w for w in wanted if w not in ENTITY_SETS[name].fields and w not in row]
        if unknown:
            raise FilterError(f"$select: the entity has no property {unknown[0]!r}")
        return {w: row.get(w) for w in wanted}

    def _collection(self, request: Request, name: str, rows: list[dict[str, Any]]) -> Response:
        params = request.query_params
        fields = ENTITY_SETS[name].fields
        if params.get("$filter"):
            predicate = compile_filter(params["$filter"], fields, ENTITY_SETS[name].columns)
            rows = [row for row in rows if predicate(row)]
        if params.get("$orderby"):
            rows = order_rows(rows, params["$orderby"], fields)
        body: dict[str, Any] = {}
        if params.get("$inlinecount") == "allpages":
            # 1C ignores $skip and $top when the count is asked for (docs: a platform limit).
            body["odata.count"] = str(len(rows))
        else:
            skip, top = self._int(params.get("$skip"), "$skip"), self._int(params.get("$top"), "$top")
            rows = rows[skip or 0 :]
            rows = rows[:top] if top is not None else rows
        body["value"] = [self._select(row, request, name) for row in rows]
        return self._reply(request, body, name)

    @staticmethod
    def _int(text: str | None, what: str) -> int | None:
        if text is None:
            return None
        if not text.isdigit():
            raise FilterError(f"{what}: a non-negative integer is expected, got {text!r}")
        return int(text)

    def _virtual(self, request: Request, name: str, func: str, args_text: str) -> Response:
        entity = ENTITY_SETS[name]
        if func not in entity.virtual:
            raise ODataFault(400, f"Extra segments are found: {name}/{func}", "4")
        args = _args(args_text)
        condition = args.get("Condition") or request.query_params.get("Condition")
        period = args.get("Period") or request.query_params.get("Period")
        rows = rows_of(self._base(), name)
        if condition:
            predicate = compile_filter(condition, entity.fields)
            rows = [row for row in rows if predicate(row)]
        if period:
            rows = [row for row in rows if str(row.get("Period", "")) <= period]
        columns = frozenset(column for column, _ in entity.virtual[func])
        if func == "Balance":
            totals: dict[tuple[str, str, str], Decimal] = {}
            for row in rows:
                dims = (row["Номенклатура_Key"], row["Характеристика_Key"], row["Склад_Key"])
                sign = 1 if row["RecordType"] == "Receipt" else -1
                totals[dims] = totals.get(dims, Decimal(0)) + sign * Decimal(str(row["ВНаличии"]))
            rows = [
                {"Номенклатура_Key": p, "Характеристика_Key": c, "Склад_Key": s, "ВНаличииBalance": float(q)}
                for (p, c, s), q in totals.items()
                if q != 0  # a virtual balance table has no rows for zero balances
            ]
        else:
            rows = [{k: row[k] for k in columns} for row in rows]
        if request.query_params.get("$filter"):
            predicate = compile_filter(request.query_params["$filter"], columns)
            rows = [row for row in rows if predicate(row)]
        owner = next((k for k, v in _VIRTUAL_OWNERS.items() if v == name), name)
        return self._reply(request, {"value": rows}, f"{owner}_{func}")

    # -- writes ------------------------------------------------------------------------------------------

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise ODataFault(400, f"Тело запроса не JSON / the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ODataFault(400, "Тело запроса должно быть объектом / the body must be a JSON object")
        return body

    def _row(self, target: Any) -> dict[str, Any]:
        if isinstance(target, PaymentDocument):
            return payments.payment_row(self._base(), target)
        if isinstance(target, Order):
            return order_row(target)
        if isinstance(target, Counterparty):
            return counterparty_row(target)
        return partner_row(target)

    async def _create(self, request: Request, name: str) -> Response:
        body = await self._body(request)
        before = self._base().revision
        make = payments.create if name in payments.PAYMENT_SETS else create
        target = make(self._base(), name, body)
        self._changed(before)
        return self._reply(request, self._row(target), f"{name}/@Element", 201)

    async def _patch(self, request: Request, name: str, key: str) -> Response:
        body = await self._body(request)
        before = self._base().revision
        change = payments.patch if name in payments.PAYMENT_SETS else patch
        target = change(self._base(), name, key, body, request.headers.get("if-match"))
        self._changed(before)
        return self._reply(request, self._row(target), f"{name}/@Element")

    # -- the extension's HTTP service --------------------------------------------------------------------

    async def _hs_changes(self, request: Request) -> Response:
        if not self.extension.installed:
            return Response("Not found", 404)
        limit = self._int(request.query_params.get("limit"), "limit") or 1000
        return JSONResponse(self.extension.changes(self._base(), limit))

    async def _hs_ack(self, request: Request) -> Response:
        if not self.extension.installed:
            return Response("Not found", 404)
        body = await self._body(request)
        message = body.get("message")
        if isinstance(message, bool) or not isinstance(message, int) or message < 0:
            return JSONResponse({"error": "message: a message number is expected"}, 400)
        self.extension.ack(self._base(), message)
        return JSONResponse({"acknowledged": self.extension.acknowledged})
