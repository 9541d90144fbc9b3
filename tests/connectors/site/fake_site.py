"""A small, honest 1C-Bitrix exchange server for the site client's tests (docs/protocols/commerceml.md §1).

Written from the reference, not from the client: windows-1251 replies, a 5-line catalog and 4-line sale
checkauth, a cookie and `sessid` checked on every call, `init` that empties the run's files, appended
chunks, `progress` for the unzip step and for a few import steps, `query` of orders not yet confirmed
and not last changed by 1C, `success` committing them, and document import updating orders by `Номер`.
`faults` are one-shot answers for a given mode: `503`, `html` or `failure`.
"""

from __future__ import annotations

import base64
import io
import secrets
import zipfile
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Run:
    kind: str
    sessid: str
    files: dict[str, bytearray] = field(default_factory=dict)
    archives: list[str] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)
    queried: list[str] = field(default_factory=list)


@dataclass
class Order:
    id: str
    number: str
    status: str = "N"
    paid: bool = False
    total: str = "100.00"
    exported: bool = False
    updated_1c: bool = False
    onec_number: str | None = None
    onec_id: str | None = None


def _reply(text: str) -> Response:
    return Response(text.encode("cp1251"), media_type="text/html; charset=windows-1251")


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child(element: Any, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return str(child.text or "").strip()
    return None


class FakeSite:
    def __init__(self, login: str, password: str, *, file_limit: int = 4096, import_steps: int = 2) -> None:
        self.auth = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
        self.file_limit = file_limit
        self.import_steps = import_steps
        self.runs: dict[str, Run] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.offers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, Order] = {}
        self.faults: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str]] = []
        self.imported: list[str] = []
        self.app = Starlette(
            routes=[Route("/bitrix/admin/1c_exchange.php", self.handle, methods=["GET", "POST"])]
        )

    def add_order(self, id_: str, **fields: Any) -> Order:
        order = Order(id_, fields.pop("number", id_), **fields)
        self.orders[id_] = order
        return order

    async def handle(self, request: Request) -> Response:
        kind, mode = request.query_params.get("type", ""), request.query_params.get("mode", "")
        self.calls.append((kind, mode))
        for i, (fault_mode, what) in enumerate(self.faults):
            if fault_mode == mode:
                del self.faults[i]
                if what == "503":
                    return Response("Service Unavailable", status_code=503)
                if what == "html":
                    return Response("<html><body>Fatal error</body></html>", media_type="text/html")
                return _reply("failure\nОшибка при импорте (fault)")
        if request.headers.get("authorization") != self.auth:
            return _reply("failure\nОшибка авторизации. Неверное имя пользователя или пароль.")
        if mode == "checkauth":
            cookie, sessid = secrets.token_hex(8), secrets.token_hex(8)
            self.runs[cookie] = Run(kind, sessid)
            lines = ["success", "PHPSESSID", cookie, f"sessid={sessid}"]
            return _reply("\n".join([*lines, "timestamp=1700000000"] if kind == "catalog" else lines))
        run = self.runs.get(request.cookies.get("PHPSESSID", ""))
        if run is None or run.kind != kind or request.query_params.get("sessid") != run.sessid:
            return _reply("failure\nОшибка проверки источника запроса.")
        return await self._mode(request, run, mode)

    async def _mode(self, request: Request, run: Run, mode: str) -> Response:
        name = request.query_params.get("filename", "")
        if mode == "init":
            run.files.clear()
            lines = ["zip=yes", f"file_limit={self.file_limit}"]
            if run.kind == "sale" and request.query_params.get("version"):
                lines += [f"sessid={run.sessid}", "version=2.09"]
            return _reply("\n".join(lines))
        if mode == "file":
            body = await request.body()
            if len(body) > self.file_limit:
                return _reply("failure\nФайл больше file_limit")
            run.files.setdefault(name, bytearray()).extend(body)
            if name.endswith(".zip") and name not in run.archives:
                run.archives.append(name)
            return _reply("success")
        if mode == "import":
            return self._import(run, name)
        if mode == "query" and run.kind == "sale":
            return self._query(run)
        if mode == "success" and run.kind == "sale":
            for order_id in run.queried:
                self.orders[order_id].exported = True
            return _reply("success\n")
        if mode in ("deactivate", "complete"):
            return _reply("success\nГотово")
        return _reply("failure\nНеизвестная команда.")

    def _import(self, run: Run, name: str) -> Response:
        if run.archives:
            archive = run.files.pop(run.archives.pop(0))
            with zipfile.ZipFile(io.BytesIO(bytes(archive))) as zf:
                for member in zf.namelist():
                    run.files[member] = bytearray(zf.read(member))
            return _reply("progress\nРаспаковка архива завершена.")
        if name not in run.files:
            return _reply(f"failure\nФайл {name} не найден")
        run.steps[name] = run.steps.get(name, 0) + 1
        if run.steps[name] <= self.import_steps:
            return _reply(f"progress\nОбработано {run.steps[name]} шагов")
        try:
            root = etree.fromstring(bytes(run.files[name]), etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError as exc:
            return _reply(f"failure\nОшибка XML: {exc}")
        self.imported.append(name)
        if run.kind == "sale":
            return _reply(f"success\nДокументов: {self._documents(root)}")
        return _reply(f"success\nТоваров: {self._catalog(root)}")

    def _catalog(self, root: Any) -> int:
        count = 0
        for element in root.iter():
            local = _local(element.tag)
            if local == "Товар" and _child(element, "Ид"):
                xml_id = str(_child(element, "Ид"))
                entry = self.products.setdefault(xml_id, {"writes": 0})
                entry.update(
                    name=_child(element, "Наименование"), active=_child(element, "Статус") != "Удален"
                )
                entry["writes"] += 1
                count += 1
            elif local == "Предложение" and _child(element, "Ид"):
                entry = self.offers.setdefault(str(_child(element, "Ид")), {"writes": 0})
                entry["writes"] += 1
                count += 1
        return count

    def _documents(self, root: Any) -> int:
        count = 0
        for document in (e for e in root.iter() if _local(e.tag) == "Документ"):
            number, onec_id = _child(document, "Номер") or "", _child(document, "Ид") or ""
            order = next((o for o in self.orders.values() if o.number == number), None)
            order = order or next((o for o in self.orders.values() if o.onec_id == onec_id), None)
            if order is None:
                order = self.add_order(f"n{len(self.orders) + 1}", number=number or onec_id)
            order.onec_id, order.updated_1c = onec_id, True
            requisites = {
                _child(r, "Наименование"): _child(r, "Значение")
                for r in document.iter()
                if _local(r.tag) == "ЗначениеРеквизита"
            }
            order.status = requisites.get("Статуса заказа ИД") or order.status
            order.paid = requisites.get("Оплачен") == "true" or bool(requisites.get("Номер оплаты по 1С"))
            order.onec_number = requisites.get("Номер по 1С") or order.onec_number
            count += 1
        return count

    def _query(self, run: Run) -> Response:
        # Bitrix exports orders not yet confirmed and not last changed by 1C (§1.7 step 3).
        wanted = [o for o in self.orders.values() if not o.exported and not o.updated_1c]
        run.queried = [o.id for o in wanted]
        documents = "".join(_order_xml(o) for o in wanted)
        body = (
            '<?xml version="1.0" encoding="windows-1251"?>\n'
            f'<КоммерческаяИнформация ВерсияСхемы="2.05" ДатаФормирования="2024-01-01T10:00:00">{documents}'
            "</КоммерческаяИнформация>"
        )
        return Response(body.encode("cp1251"), media_type="application/xml; charset=windows-1251")


def _order_xml(order: Order) -> str:
    requisites = {"Заказ оплачен": str(order.paid).lower(), "Статуса заказа ИД": order.status}
    values = "".join(
        f"<ЗначениеРеквизита><Наименование>{k}</Наименование><Значение>{v}</Значение></ЗначениеРеквизита>"
        for k, v in requisites.items()
    )
    return (
        f"<Документ><Ид>{order.id}</Ид><Номер>{order.number}</Номер><Дата>2024-01-01</Дата>"
        "<ХозОперация>Заказ товара</ХозОперация><Роль>Продавец</Роль><Валюта>RUB</Валюта><Курс>1</Курс>"
        f"<Сумма>{order.total}</Сумма><Контрагенты><Контрагент><Ид>7#buyer#Иван</Ид>"
        "<Наименование>Иван Петров</Наименование><Роль>Покупатель</Роль></Контрагент></Контрагенты>"
        "<Время>10:00:00</Время><Товары><Товар><Ид>p1</Ид><Наименование>Товар 1</Наименование>"
        f"<ЦенаЗаЕдиницу>{order.total}</ЦенаЗаЕдиницу><Количество>1</Количество><Сумма>{order.total}</Сумма>"
        f"</Товар></Товары><ЗначенияРеквизитов>{values}</ЗначенияРеквизитов></Документ>"
    )
