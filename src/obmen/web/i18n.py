"""The dashboard's words in Russian and English, and which one a request wants.

The language is `?lang=ru|en` (remembered in a cookie), then the cookie, then the browser's
`Accept-Language`, then Russian.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request

__all__ = ["LANGS", "LANG_COOKIE", "Words", "both", "language", "refusal"]

LANGS = ("ru", "en")
LANG_COOKIE = "obmen_lang"

_WORDS: Mapping[str, tuple[str, str]] = {
    "overview": ("Обзор", "Overview"),
    "objects": ("Объекты", "Objects"),
    "conflicts": ("Конфликты", "Conflicts"),
    "queue": ("Очередь", "Queue"),
    "mappings": ("Сопоставления", "Mappings"),
    "search": ("Найти", "Search"),
    "search_hint": ("номер, имя, телефон, e-mail или id", "number, name, phone, e-mail or id"),
    "logout": ("Выйти", "Log out"),
    "login": ("Войти", "Log in"),
    "token": ("Токен администратора", "Admin token"),
    "wrong_token": ("Неверный токен", "Wrong token"),
    "systems": ("Системы", "Systems"),
    "onec": ("1С", "1C"),
    "site": ("Сайт", "Site"),
    "bitrix24": ("Битрикс24", "Bitrix24"),
    "obmen": ("obmen", "obmen"),
    "base": ("Согласовано", "Agreed"),
    "last_event": ("Последний обмен", "Last exchange"),
    "last_write": ("Последняя запись", "Last write"),
    "last_failure": ("Последняя ошибка", "Last failure"),
    "writes_1h": ("Записей за час", "Writes in the last hour"),
    "failed": ("ошибок", "failed"),
    "delay": ("Задержка", "Latency"),
    "linked": ("Связано объектов", "Linked objects"),
    "requests": ("Запросов к порталу", "Portal requests"),
    "never": ("никогда", "never"),
    "queued": ("В очереди", "Queued"),
    "delayed": ("Отложено до срока", "Delayed"),
    "running": ("В работе", "Running"),
    "waiting": ("Ждут", "Waiting"),
    "retrying": ("Повторяются", "Retrying"),
    "held": ("Ждут систему", "Held back"),
    "refuses": ("Отказывает", "Refuses"),
    "refusing_since": ("с", "since"),
    "next_probe": ("следующая проверка в", "next probe at"),
    "parked": ("Остановлены", "Parked"),
    "decided": ("решено, применяется", "decided, being applied"),
    "throughput": ("Записей в час", "Writes per hour"),
    "latency": ("Задержка, с (средняя и максимум)", "Latency, s (mean and max)"),
    "recent": ("Последние изменения", "Recent changes"),
    "time": ("Время", "Time"),
    "object": ("Объект", "Object"),
    "action": ("Действие", "Action"),
    "fields": ("Поля", "Fields"),
    "from_to": ("Откуда → куда", "From → to"),
    "trigger": ("Причина", "Trigger"),
    "nothing": ("Ничего нет", "Nothing here"),
    "kind": ("Тип", "Type"),
    "ids": ("Идентификаторы", "Ids"),
    "updated": ("Изменён", "Updated"),
    "next_page": ("Дальше →", "Next →"),
    "prev_page": ("← Назад", "← Back"),
    "field": ("Поле", "Field"),
    "differs": ("отличается от согласованного", "differs from the agreed value"),
    "timeline": ("История", "Timeline"),
    "open_portal": ("Сделка в портале", "Deal in the portal"),
    "open_contact": ("Контакт в портале", "Contact in the portal"),
    "open_site": ("Заказ в админке сайта", "Order in the site's admin"),
    "not_linked": ("не связан", "not linked"),
    "absent": ("нет объекта", "no object"),
    "live_off": (
        "чтение систем не подключено: показано согласованное",
        "systems not read: the agreed values",
    ),
    "candidates": ("Варианты", "Candidates"),
    "choose": ("Выбрать", "Choose"),
    "own_value": ("Своё значение", "Own value"),
    "apply": ("Применить", "Apply"),
    "decided_by": ("решил(а)", "decided by"),
    "closed": ("Закрытые", "Closed"),
    "resolution": ("Решение", "Resolution"),
    "reason": ("Причина", "Reason"),
    "attempts": ("Попыток", "Attempts"),
    "age": ("Возраст", "Age"),
    "next_try": ("Следующая попытка", "Next attempt"),
    "history": ("история", "history"),
    "retry": ("Повторить", "Retry"),
    "retry_all": ("Повторить все", "Retry all"),
    "same_reason": ("По причинам", "By reason"),
    "count": ("Сколько", "Count"),
    "by_state": ("По типам и состояниям", "By entity and state"),
    "state": ("Состояние", "State"),
    "items": ("Элементов", "Items"),
    "value": ("Значение", "Value"),
    "not_found": ("Ничего не известно об этом объекте", "Nothing is known of this object"),
    "queued_now": ("в очереди", "queued"),
    "outbox_waits": ("ждёт выгрузки партнёром", "waits for the partner to collect"),
    "outbox_done": ("забран партнёром", "collected by the partner"),
    "ago": ("назад", "ago"),
    "in": ("через", "in"),
    "entity.order": ("Заказ", "Order"),
    "entity.counterparty": ("Клиент", "Customer"),
    "entity.offer": ("Предложение", "Offer"),
    "entity.product": ("Товар", "Product"),
    "entity.category": ("Раздел", "Category"),
    "entity.invoice": ("Счёт", "Invoice"),
    "entity.user": ("Менеджер", "Manager"),
    "entity.lead": ("Лид", "Lead"),
    "entity.price_type": ("Тип цены", "Price type"),
    "entity.warehouse": ("Склад", "Warehouse"),
    "ev.linked": ("связан", "linked"),
    "ev.create": ("создан", "created"),
    "ev.update": ("изменён", "updated"),
    "ev.link": ("сопоставлен", "matched"),
    "ev.resolve": ("конфликт решён оператором", "conflict decided by the operator"),
    "ev.conflict_opened": ("конфликт", "conflict"),
    "ev.conflict_closed": ("конфликт закрыт", "conflict closed"),
    "ev.parked": ("остановлен", "parked"),
    "ev.failed": ("ошибка", "failed"),
    "ev.planned": ("отправляется", "being sent"),
    "f.number": ("Номер", "Number"),
    "f.status": ("Статус", "Status"),
    "f.customer": ("Клиент", "Customer"),
    "f.total": ("Сумма", "Total"),
    "f.comment": ("Комментарий", "Comment"),
    "f.lines": ("Позиции", "Lines"),
    "f.delivery": ("Доставка", "Delivery"),
    "f.payments": ("Оплаты", "Payments"),
    "f.date": ("Дата", "Date"),
    "f.name": ("Название / имя", "Name"),
    "f.phones": ("Телефоны", "Phones"),
    "f.emails": ("E-mail", "E-mail"),
    "f.price": ("Цена", "Price"),
    "f.prices": ("Цены", "Prices"),
    "f.quantity": ("Остаток", "Quantity"),
    "f.stock": ("Остатки по складам", "Stock"),
    "f.responsible": ("Ответственный", "Responsible"),
    "f.cancelled": ("Отменён", "Cancelled"),
    "f.article": ("Артикул", "Article"),
    "f.active": ("Активен", "Active"),
    "f.site": ("Сайт (код)", "Site (code)"),
    "f.external_numbers": ("Номера в системах", "Numbers in the systems"),
    "f.service": ("Служба", "Service"),
    "f.amount": ("Сумма", "Amount"),
    "f.paid": ("Оплачено", "Paid"),
    "f.system": ("Способ", "Method"),
    "f.address": ("Адрес", "Address"),
    "open": ("Открытые", "Open"),
    "loops": ("Циклы и их аренды", "Loops and their leases"),
    "loop": ("Цикл", "Loop"),
    "holder": ("Процесс (хост:pid:метка)", "Process (host:pid:tag)"),
    "since": ("Держит с", "Held since"),
    "last_tick": ("Последний шаг", "Last step"),
    "doing": ("Чем занят", "Doing"),
    "lease.held": ("работает", "running"),
    "lease.stalled": (
        "ЗАВИС: держит аренду, но не продвигается",
        "STALLED: holds its lease but is not moving",
    ),
    "lease.expired": ("аренда истекла, её возьмёт живой процесс", "lease lapsed: a live process takes it"),
    "loop.tenant": ("Обработка очереди", "Queue worker"),
    "loop.scheduler": ("Планировщик: опросы и полная сверка", "Scheduler: polls and full resync"),
    "loop.site-exchange": ("Обмен с сайтом", "Site exchange"),
    "not_read": ("не прочитано: выполните `obmen check`", "not read yet: run `obmen check`"),
    "missing_in": ("нет в системе", "not in"),
    "read_now": ("Прочитать системы сейчас", "Read the systems now"),
    "unseen.site": ("пока не встречался в заказах сайта", "not in the site's orders yet"),
    "unmapped": ("Есть в системе, но не сопоставлено", "In the system but not mapped"),
    "facts_read": (
        "Рядом с каждой строкой — что есть в системах по последнему `obmen check` (✔ есть, ✘ нет, – ещё не "
        "встречался, ? не прочитано); повторите его или нажмите «Прочитать системы сейчас», чтобы обновить.",
        "Beside each row: what the systems have as the last `obmen check` read it (✔ found, ✘ missing, "
        "– not used yet, ? not read); run it again, or click «Read the systems now», to refresh.",
    ),
    "found": ("В системе", "In the system"),
    "loads": ("Загрузки и пересинхронизации", "Loads and resyncs"),
    "no_loads": (
        "Загрузок нет: `obmen sync --full` начинает начальную загрузку",
        "No load: `obmen sync --full` starts the initial load",
    ),
    "load": ("Загрузка", "Load"),
    "entities": ("Сущности", "Entities"),
    "all": ("все", "all"),
    "progress": ("Готово / всего", "Done / total"),
    "rate": ("Скорость", "Rate"),
    "per_second": ("с", "s"),
    "eta": ("Осталось", "ETA"),
    "eta_unknown": ("пока неизвестно", "not known yet"),
    "started": ("Начата", "Started"),
    "load.scanning": ("читает системы", "scanning the systems"),
    "load.running": ("идёт", "running"),
    "load.finished": ("закончена", "finished"),
    "site_status": ("Статус заказа", "Order status"),
    "deal_stage": ("Стадия сделки", "Deal stage"),
    "yes": ("да", "yes"),
    "no": ("нет", "no"),
}


@dataclass(frozen=True, slots=True)
class Words:
    """The words of one language: `words("queue")`; an unknown key reads as itself."""

    lang: str

    def __call__(self, key: str, default: str | None = None) -> str:
        pair = _WORDS.get(key)
        if pair is None:
            return key if default is None else default
        return pair[LANGS.index(self.lang)]

    def has(self, key: str) -> bool:
        """Whether `key` has words."""
        return key in _WORDS


def both(key: str) -> str:
    """A key's words in English and Russian, as the CLI and the API's texts say them: `running / работает`."""
    return f"{Words('en')(key)} / {Words('ru')(key)}"


def refusal(
    words: Words,
    system: str,
    reason: str,
    since: str,
    probe: str,
    *,
    named: bool = True,
    esc: Callable[[str], str] = str,
) -> str:
    """The one sentence of an open breaker: "Bitrix24 refuses: <reason> since <since>; next probe at <probe>"
    (docs/architecture.md §2.13). `since` and `probe` come rendered; `esc` escapes the rest for a page."""
    who = f"{esc(words(system))} {esc(words('refuses').lower())}: " if named else ""
    return f"{who}{esc(reason)} {esc(words('refusing_since'))} {since}; {esc(words('next_probe'))} {probe}"


def language(request: Request) -> str:
    """The language the request asks for: `?lang=`, the cookie, the browser's preference, Russian."""
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LANGS:
        return str(asked)
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "ru"
