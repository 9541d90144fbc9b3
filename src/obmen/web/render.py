"""Pages made of live sections: the first answer is the whole page; `?fragment=<id>` answers one
section's HTML, which the page's script fetches every few seconds and swaps in (no page reloads)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from obmen.store.overview import counts
from obmen.web.context import Site
from obmen.web.i18n import LANG_COOKIE, LANGS
from obmen.web.markup import Html, esc, page

__all__ = ["Section", "remember_language", "respond"]


@dataclass(frozen=True)
class Section:
    """One live part of a page: its id, how often the page refreshes it (0: never), how to build it."""

    id: str
    every: int
    build: Callable[[], Awaitable[str]]


async def respond(
    site: Site, request: Request, *, title: str, active: str, sections: Sequence[Section], query: str = ""
) -> Response:
    """The page, or the one section `?fragment=` names."""
    wanted = request.query_params.get("fragment")
    if wanted is not None:
        found = next((s for s in sections if s.id == wanted), None)
        if found is None:
            return HTMLResponse("<p>unknown fragment</p>", status_code=404)
        return _no_store(HTMLResponse(await found.build()))
    words = site.words(request)
    parts = []
    for section in sections:
        live = f" data-live='{section.every}'" if section.every else ""
        parts.append(f"<section id='{esc(section.id)}'{live}>{await section.build()}</section>")
    badges = await counts(site.db, site.tenant, now=site.clock())
    here = request.url.path + (f"?{_without_lang(request)}" if _without_lang(request) else "")
    body = page(
        words,
        root=site.root(request),
        title=title,
        active=active,
        body=Html("".join(parts)),
        counts={"conflicts": badges["conflicts"], "queue": badges["parked"]},
        query=query,
        here=here,
        logout=site.token is not None,
    )
    response = _no_store(HTMLResponse(body))
    remember_language(request, response)
    return response


def remember_language(request: Request, response: Response) -> None:
    """A `?lang=` choice is kept in a cookie for the next pages."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        response.set_cookie(LANG_COOKIE, str(asked), max_age=365 * 86400, samesite="lax")


def _without_lang(request: Request) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "fragment")]
    return urlencode(kept)


def _no_store(response: Response) -> Response:
    # Customer data: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store"
    return response
