"""The queue page: parked items and items that wait or retry, each with its reason, age and history;
retry one, or every parked item with the same reason."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from obmen.store.objects import summaries
from obmen.store.overview import parked_items, waiting_items
from obmen.web.context import Site
from obmen.web.i18n import Words
from obmen.web.markup import Html, age, esc, table
from obmen.web.names import Summaries, entity_name, href, link
from obmen.web.render import Section, respond

__all__ = ["parked_section", "queue_page"]

PAGE = 50


def _object(item: dict[str, Any], named: Summaries, words: Words, root: str) -> Html:
    """The item's object, named; an unlinked one by its id in the system that told of it."""
    if item.get("canonical_id"):
        return link(root, item["entity"], item["canonical_id"], named, words)
    key = f"{item['system']}:{item['external_id']}"
    text = f"{entity_name(words, item['entity'])} {words(item['system'])} {item['external_id']}"
    return Html(f"<a href='{esc(href(root, item['entity'], key))}'>{esc(text)}</a>")


def _retry(root: str, key: str, words: Words, here: str) -> Html:
    action = esc(f"{root}/api/parked/{quote(key, safe='')}/retry")
    return Html(
        f"<td><form method='post' action='{action}' data-json>"
        f"<input type='hidden' name='next' value='{esc(here)}'>"
        f"<button type='submit' data-retry='{esc(key)}'>{esc(words('retry'))}</button></form></td>"
    )


def _offset(request: Request, name: str) -> int:
    raw = request.query_params.get(name, "0")
    return int(raw) if raw.isdigit() else 0


async def parked_section(
    site: Site, request: Request, *, limit: int, offset: int, groups: bool = True
) -> str:
    """Parked items, newest first, each with its reason, age, history and retry; and retry-all by reason."""
    words, root, here = site.words(request), site.root(request), request.url.path
    data = await parked_items(site.db, site.tenant, limit=limit, offset=offset)
    named = await summaries(site.db, site.tenant, _pairs(data["items"]))
    now = site.clock()
    rows = [
        [
            _object(p, named, words, root),
            p["reason"],
            p["attempts"],
            age(now - p["parked_at"], words),
            p["trigger"],
            _history(p, root, words),
            _retry(root, p["key"], words, here),
        ]
        for p in data["items"]
    ]
    heads = [words(k) for k in ("object", "reason", "attempts", "age", "trigger", "history")] + [""]
    out = f"<h2 id='parked'>{esc(words('parked'))} ({data['total']})</h2>"
    if groups and data["reasons"]:
        retry_all = [[g["reason"], g["count"], _retry_all(root, g, words, here)] for g in data["reasons"]]
        out += f"<h3>{esc(words('same_reason'))}</h3>"
        out += table([words("reason"), words("count"), ""], retry_all, empty=words("nothing"))
    return out + table(heads, rows, empty=words("nothing"))


def _retry_all(root: str, group: dict[str, Any], words: Words, here: str) -> Html:
    return Html(
        f"<td><form method='post' action='{esc(root)}/api/parked/retry' data-json>"
        f"<input type='hidden' name='reason' value='{esc(group['reason'])}'>"
        f"<input type='hidden' name='next' value='{esc(here)}'>"
        f"<button type='submit'>{esc(words('retry_all'))} ({group['count']})</button></form></td>"
    )


async def queue_page(site: Site, request: Request) -> Response:
    """`/queue`: parked items by reason and one by one, then waiting and retrying items."""
    words, root = site.words(request), site.root(request)

    async def parked() -> str:
        return await parked_section(site, request, limit=PAGE, offset=_offset(request, "parked_from"))

    async def waiting() -> str:
        data = await waiting_items(site.db, site.tenant, limit=PAGE, offset=_offset(request, "waiting_from"))
        named = await summaries(site.db, site.tenant, _pairs(data["items"]))
        now = site.clock()
        rows = [
            [
                _object(w, named, words, root),
                words("waiting") if w["waiting"] else words("retrying"),
                w["reason"],
                w["attempts"],
                age(now - w["enqueued_at"], words),
                f"{words('in')} {age(w['not_before'] - now, words)}" if w["not_before"] > now else "—",
                _history(w, root, words),
            ]
            for w in data["items"]
        ]
        heads = [words(k) for k in ("object", "state", "reason", "attempts", "age", "next_try", "history")]
        return (
            f"<h2 id='waiting'>{esc(words('waiting'))} / {esc(words('retrying'))} ({data['total']})</h2>"
            + table(heads, rows, empty=words("nothing"))
        )

    async def states() -> str:
        status = await site.status_now()
        rows = [[entity_name(words, e), s, c] for (e, s), c in sorted(status.queue.items())]
        heads = [words("kind"), words("state"), words("items")]
        return f"<h2>{esc(words('by_state'))} ({status.depth})</h2>" + table(
            heads, rows, empty=words("nothing")
        )

    sections = [Section("parked", 3, parked), Section("waiting", 3, waiting), Section("states", 3, states)]
    return await respond(site, request, title=words("queue"), active="queue", sections=sections)


def _pairs(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["entity"], i["canonical_id"]) for i in items if i.get("canonical_id")}


def _history(item: dict[str, Any], root: str, words: Words) -> Html:
    key = item.get("canonical_id") or f"{item['system']}:{item['external_id']}"
    return Html(f"<a href='{esc(href(root, item['entity'], key))}#timeline'>{esc(words('history'))}</a>")
