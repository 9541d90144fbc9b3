"""Objects: search by number, name, phone, e-mail or id; one page per object with its fields in every
system side by side, the differences marked, its conflicts and its timeline across all three."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from obmen.store import state
from obmen.store.objects import search, summaries
from obmen.store.timeline import Timeline, parse_key, timeline
from obmen.web.conflicts import conflict_cards
from obmen.web.context import Site
from obmen.web.i18n import Words
from obmen.web.markup import Html, cell, esc, table, when
from obmen.web.names import Summaries, entity_name, field_name, label, link, refs_of, show
from obmen.web.render import Section, respond

__all__ = ["object_page", "objects_page", "read_object"]

_SYSTEMS = ("onec", "site", "bitrix24")
PAGE = 50


async def objects_page(site: Site, request: Request) -> Response:
    """`/objects?q=&entity=&page=`: search results, or the most recently agreed objects."""
    words, root = site.words(request), site.root(request)
    q = request.query_params.get("q", "")
    entity = request.query_params.get("entity") or None
    number = (
        int(request.query_params.get("page", "1")) if request.query_params.get("page", "1").isdigit() else 1
    )
    number = max(1, number)

    async def results() -> str:
        found = await search(site.db, site.tenant, q, entity=entity, limit=PAGE, offset=(number - 1) * PAGE)
        named = {(s["entity"], s["canonical_id"]): s for s in found}
        rows = [
            [
                link(root, s["entity"], s["canonical_id"], named, words),
                entity_name(words, s["entity"]),
                " · ".join(f"{words(k)}: {v}" for k, v in sorted(s["links"].items())),
                when(s.get("updated_at"), words),
            ]
            for s in found
        ]
        heads = [words("object"), words("kind"), words("ids"), words("updated")]
        pager = _pager(request, number, more=len(found) == PAGE, words=words)
        return table(heads, rows, empty=words("nothing"), cls="results") + pager

    title = f"{words('objects')}: {q}" if q else words("objects")
    sections = [Section("results", 0 if q else 5, results)]
    return await respond(site, request, title=title, active="objects", sections=sections, query=q)


def _pager(request: Request, number: int, *, more: bool, words: Words) -> str:
    def to(n: int) -> str:
        params = dict(request.query_params) | {"page": str(n)}
        params.pop("fragment", None)
        return esc(request.url.path + "?" + "&".join(f"{k}={v}" for k, v in params.items()))

    back = f"<a href='{to(number - 1)}'>{esc(words('prev_page'))}</a>" if number > 1 else ""
    ahead = f"<a href='{to(number + 1)}'>{esc(words('next_page'))}</a>" if more else ""
    return f"<p class='pager'>{back} {ahead}</p>" if back or ahead else ""


async def read_object(site: Site, entity: str, key: str) -> dict[str, Any] | None:
    """Everything the object page shows: timeline, each system's fields, open conflicts, summaries."""
    story = await timeline(site.db, site.tenant, entity, key, limit=200)
    if not story.found:
        return None
    sides: dict[str, Any] = {}
    error = None
    if story.canonical_id and story.links and site.options.read_sides is not None:
        try:
            sides = {
                s: dict(v) for s, v in (await site.options.read_sides(entity, story.canonical_id)).items()
            }
        except Exception as exc:  # a failed read must not hide what the store knows
            error = f"{type(exc).__name__}: {exc}"
    async with site.db.begin() as conn:
        opened = [
            c
            for c in await state.open_conflicts(conn, site.tenant, entity)
            if c["canonical_id"] == story.canonical_id
        ]
    values: list[Any] = [story.base or {}, *(s.get("fields") or {} for s in sides.values())]
    values += [c["candidates"] for c in opened] + [e.get("fields") for e in story.events]
    pairs = refs_of(v for group in values if isinstance(group, dict) for v in group.values())
    if story.canonical_id:
        pairs.add((entity, story.canonical_id))
    named = await summaries(site.db, site.tenant, pairs)
    return {"timeline": story, "sides": sides, "read_error": error, "conflicts": opened, "summaries": named}


async def object_page(site: Site, request: Request) -> Response:
    """`/objects/<entity>/<canonical id or system:id>`."""
    words, root = site.words(request), site.root(request)
    entity, key = request.path_params["entity"], request.path_params["key"]
    try:
        parse_key(key)
    except ValueError as exc:
        return Response(str(exc), status_code=400)
    data = await read_object(site, entity, key)
    if data is None:
        sections = [
            Section(
                "missing",
                0,
                _const(f"<p class='empty'>{esc(words('not_found'))}: {esc(entity)} {esc(key)}</p>"),
            )
        ]
        response = await respond(site, request, title=f"{entity} {key}", active="objects", sections=sections)
        response.status_code = 404
        return response
    story: Timeline = data["timeline"]
    cid = story.canonical_id or key
    title = label(entity, cid, data["summaries"].get((entity, cid)), words)

    async def fresh() -> dict[str, Any]:
        return await read_object(site, entity, key) or data

    async def fields() -> str:
        return _fields(await fresh(), entity, words, root)

    async def conflicts() -> str:
        now = await fresh()
        return conflict_cards(now["conflicts"], now["summaries"], words, root, here=request.url.path)

    async def history() -> str:
        return _timeline(await fresh(), entity, words, root)

    sections = [
        Section("links", 0, _const(_links(site, story, entity, words))),
        Section("conflicts", 3, conflicts),
        Section("fields", 15, fields),
        Section("timeline", 3, history),
    ]
    return await respond(site, request, title=title, active="objects", sections=sections)


def _const(text: str) -> Any:
    async def build() -> str:
        return text

    return build


def _links(site: Site, story: Timeline, entity: str, words: Words) -> str:
    ids = " · ".join(f"{words(s)}: {x}" for s, x in sorted(story.links.items())) or words("not_linked")
    out = [f"<p class='ids'>{esc(ids)}</p>"]
    anchors = []
    if "bitrix24" in story.links and (url := site.options.portal_link(entity, story.links["bitrix24"])):
        anchors.append((url, "open_portal" if entity == "order" else "open_contact"))
    if "site" in story.links and (url := site.options.site_link(entity, story.links["site"])):
        anchors.append((url, "open_site"))
    if anchors:
        out.append(
            "<p class='external'>"
            + " ".join(
                f"<a href='{esc(u)}' target='_blank' rel='noopener'>{esc(words(k))} ↗</a>" for u, k in anchors
            )
            + "</p>"
        )
    return "".join(out)


def _fields(data: dict[str, Any], entity: str, words: Words, root: str) -> str:
    story: Timeline = data["timeline"]
    sides, named = data["sides"], data["summaries"]
    base = story.base or {}
    systems = [s for s in _SYSTEMS if s in story.links] + sorted(set(story.links) - set(_SYSTEMS))
    names = sorted(set(base) | {f for s in sides.values() for f in (s.get("fields") or {})})
    rows = []
    for name in names:
        row = [cell(field_name(words, name), "name"), cell(show(base.get(name), named, words, root), "base")]
        for system in systems:
            side = sides.get(system)
            got = (side or {}).get("fields")
            if side is None or got is None or name not in got:
                row.append(cell("", "none"))
                continue
            differs = name in base and _canon(got[name]) != _canon(base[name])
            shown = show(got[name], named, words, root)
            row.append(
                Html(f"<td class='diff' title='{esc(words('differs'))}'>{shown}</td>")
                if differs
                else cell(shown)
            )
        rows.append(row)
    heads = [words("field"), words("base"), *(words(s) for s in systems)]
    notes = []
    if not sides and story.links:
        notes.append(data["read_error"] or words("live_off"))
    for system, side in sorted(sides.items()):
        if side.get("error"):
            notes.append(f"{words(system)}: {side['error']}")
        elif side.get("fields") is None:
            notes.append(f"{words(system)}: {words('absent')}")
    note = "".join(f"<p class='note'>{esc(n)}</p>" for n in notes)
    return f"<h2>{esc(words('fields'))}</h2>" + note + table(heads, rows, empty=words("nothing"), cls="sides")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _timeline(data: dict[str, Any], entity: str, words: Words, root: str) -> str:
    story: Timeline = data["timeline"]
    named: Summaries = data["summaries"]
    rows = [[when(e["at"], words), *_event(e, named, words, root)] for e in reversed(story.events)]
    queued = [f"{words('queued_now')}: {q['state']} · {q['last_error'] or ''}" for q in story.queued]
    boxes = []
    for b in story.outbox:
        said = words("outbox_done" if b["delivered"] else "outbox_waits")
        boxes.append(f"{words(b['system'])}: {said} (v{b['version']})")
    extra = "".join(f"<p class='note'>{esc(t)}</p>" for t in queued + boxes)
    omitted = f"<p class='note'>… {story.omitted}</p>" if story.omitted else ""
    heads = [words("time"), words("action"), words("from_to"), words("fields")]
    return f"<h2>{esc(words('timeline'))}</h2>" + extra + table(heads, rows, empty=words("nothing")) + omitted


def _event(e: dict[str, Any], named: Summaries, words: Words, root: str) -> list[Any]:
    kind = e["kind"]
    if kind == "linked":
        return [words("ev.linked"), f"{words(e['system'])}: {e['external_id']}", ""]
    if kind == "write":
        what = words(f"ev.{e['action']}", e["action"])
        if e["status"] != "applied":
            what += f" · {words('ev.' + e['status'], e['status'])}"
        source = words(e["source_system"] or "obmen")
        target = words(e["target_system"]) + (f":{e['external_id']}" if e["external_id"] else "")
        detail = Html(
            "; ".join(
                f"{esc(field_name(words, k))} = {show(v, named, words, root)}"
                for k, v in sorted(e["fields"].items())
            )
        )
        tail = f" · {e['trigger']}" + (f" · {e['error']}" if e["error"] else "")
        return [what, f"{source} → {target}", Html(f"{detail}<small>{esc(tail)}</small>")]
    if kind == "conflict_opened":
        shown = "; ".join(
            f"{esc(words(s))}: {show(v, named, words, root)}" for s, v in sorted(e["candidates"].items())
        )
        return [
            words("ev.conflict_opened"),
            "",
            Html(f"{esc(field_name(words, e['field']))}: {shown}"),
        ]
    if kind == "conflict_closed":
        return [words("ev.conflict_closed"), "", f"{field_name(words, e['field'])}: {e['resolution']}"]
    return [words("ev.parked"), e["key"], f"{e['reason']} ({words('attempts')}: {e['attempts']})"]
