"""Conflicts resolved on the page: choose a side's value or type one (`POST /api/conflicts/<id>/resolve`).

Each button is a form that works without the script (a urlencoded POST, answered with a redirect back);
the page's script sends the same form as JSON and refreshes the live sections instead.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from obmen.store import state
from obmen.store.objects import summaries
from obmen.web.context import Site
from obmen.web.i18n import Words
from obmen.web.markup import Html, esc, table, when
from obmen.web.names import Summaries, field_name, link, refs_of, show
from obmen.web.render import Section, respond

__all__ = ["conflict_cards", "conflicts_page"]


def conflict_cards(
    items: list[dict[str, Any]],
    named: Summaries,
    words: Words,
    root: str,
    *,
    here: str,
    title: str = "conflicts",
) -> str:
    """Open conflicts, each with a button per side and a field for a value of one's own."""
    if not items:
        return f"<h2>{esc(words(title))}</h2><p class='empty'>{esc(words('nothing'))}</p>"
    cards = [_card(c, named, words, root, here) for c in items]
    return f"<h2>{esc(words(title))} ({len(items)})</h2>" + "".join(cards)


def _card(c: dict[str, Any], named: Summaries, words: Words, root: str, here: str) -> str:
    action = esc(f"{root}/api/conflicts/{c['id']}/resolve")
    back = f"<input type='hidden' name='next' value='{esc(here)}'>"
    choices = []
    for system, value in sorted(c["candidates"].items()):
        chosen = " chosen" if c.get("decided_side") == system else ""
        choices.append(
            f"<form class='choice{chosen}' method='post' action='{action}' data-json>{back}"
            f"<input type='hidden' name='side' value='{esc(system)}'>"
            f"<span class='system'>{esc(words(system))}</span>"
            f"<span class='value'>{show(value, named, words, root)}</span>"
            f"<button type='submit' data-side='{esc(system)}'>{esc(words('choose'))}</button></form>"
        )
    own = ""
    if all(isinstance(v, str) or v is None for v in c["candidates"].values()):
        own = (
            f"<form class='choice own' method='post' action='{action}' data-json>{back}"
            f"<label>{esc(words('own_value'))} <input name='value' required></label>"
            f"<button type='submit'>{esc(words('apply'))}</button></form>"
        )
    decided = ""
    if c.get("decided_at") is not None:
        decided = (
            f"<p class='decided'>{esc(words('decided'))}: {show(c['decision'], named, words, root)} · "
            f"{esc(words('decided_by'))} {esc(c['decided_by'])} · {when(c['decided_at'], words)}</p>"
        )
    field = field_name(words, c["field"])
    return (
        f"<article class='conflict' data-conflict='{c['id']}'>"
        f"<h3>{link(root, c['entity'], c['canonical_id'], named, words)} · {esc(field)}</h3>"
        f"<p>{esc(words('base'))}: {show(c['base'], named, words, root)} · {when(c['created_at'], words)}</p>"
        f"<div class='choices'>{''.join(choices)}{own}</div>{decided}</article>"
    )


async def named_conflicts(site: Site) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Summaries]:
    """Open and recently closed conflicts, and the summaries that name them and their values."""
    async with site.db.begin() as conn:
        opened = await state.open_conflicts(conn, site.tenant)
        closed = await state.closed_conflicts(conn, site.tenant, limit=20)
    pairs = {(c["entity"], c["canonical_id"]) for c in [*opened, *closed]}
    pairs |= refs_of(v for c in opened for v in [c["base"], *c["candidates"].values()])
    return opened, closed, await summaries(site.db, site.tenant, pairs)


async def conflicts_page(site: Site, request: Request) -> Response:
    """`/conflicts`: open conflicts to decide, and the recently closed ones."""
    words, root = site.words(request), site.root(request)

    async def open_() -> str:
        opened, _, named = await named_conflicts(site)
        return conflict_cards(opened, named, words, root, here=request.url.path, title="open")

    async def closed() -> str:
        _, done, named = await named_conflicts(site)
        rows = [
            [
                when(c["resolved_at"], words),
                link(root, c["entity"], c["canonical_id"], named, words),
                field_name(words, c["field"]),
                Html(show(c["decision"], named, words, root) + esc(f" · {c['resolution']}"))
                if c.get("decided_at") is not None
                else c["resolution"],
                c.get("decided_by") or "",
            ]
            for c in done
        ]
        heads = [words("time"), words("object"), words("field"), words("resolution"), words("decided_by")]
        return f"<h2>{esc(words('closed'))}</h2>" + table(heads, rows, empty=words("nothing"))

    sections = [Section("open", 3, open_), Section("closed", 3, closed)]
    return await respond(site, request, title=words("conflicts"), active="conflicts", sections=sections)
