"""The operator's routes (docs/architecture.md §2.8, docs/operations.md §7.1): the dashboard's pages, its
stylesheet and script, the login form, and the JSON API (`web.api`).

With a token set, every route here but the login form and the static files wants it (`web.auth`): an
API call without it gets a JSON 401 (with the Basic challenge a browser answers), a page gets the login
form with a 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from obmen.store.database import Database
from obmen.store.status import Status
from obmen.web.api import Handler, api_handlers, status_json
from obmen.web.auth import SESSION_COOKIE, allowed, api_denied, safe_next, session_value
from obmen.web.conflicts import conflicts_page
from obmen.web.context import Dashboard, Site
from obmen.web.mappings import mappings_page
from obmen.web.markup import esc
from obmen.web.objects import object_page, objects_page
from obmen.web.overview import overview_page
from obmen.web.queue import queue_page
from obmen.web.render import remember_language

__all__ = ["routes", "status_json"]

_STATIC = {"obmen.css": "text/css; charset=utf-8", "obmen.js": "text/javascript; charset=utf-8"}


def _login_form(site: Site, request: Request, *, failed: bool = False) -> Response:
    words, root = site.words(request), site.root(request)
    target = request.query_params.get("next") or request.url.path
    wrong = f"<p class='error'>{esc(words('wrong_token'))}</p>" if failed else ""
    body = (
        f"<!doctype html><html lang='{words.lang}'><head><meta charset='utf-8'><title>obmen</title>"
        f"<link rel='stylesheet' href='{esc(root)}/static/obmen.css'></head><body>"
        f"<form class='login' method='post' action='{esc(root)}/login'><h1>obmen</h1>{wrong}"
        f"<label>{esc(words('token'))}<input type='password' name='token' autofocus required></label>"
        f"<input type='hidden' name='next' value='{esc(safe_next(target, root))}'>"
        f"<button type='submit'>{esc(words('login'))}</button></form></body></html>"
    )
    response = HTMLResponse(body, status_code=401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="obmen"'
    remember_language(request, response)
    return response


def routes(
    db: Database,
    *,
    tenant: str,
    clock: Callable[[], float],
    status_now: Callable[[], Awaitable[Status]],
    token: str | None = None,
    dashboard: Dashboard | None = None,
) -> list[Route]:
    """The dashboard's pages, `/login`, `/logout`, `/static/…` and every `/api/…` route."""
    site = Site(db, tenant, clock, status_now, token, dashboard or Dashboard())

    def api(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            return await handler(request) if allowed(request, token) else api_denied()

        return wrapped

    def page(handler: Callable[[Site, Request], Awaitable[Response]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            if not allowed(request, token):
                return _login_form(site, request)
            return await handler(site, request)

        return wrapped

    async def login(request: Request) -> Response:
        if request.method == "GET" or token is None:
            return _login_form(site, request) if token else RedirectResponse(site.root(request) + "/", 303)
        form = await request.form()
        given, target = str(form.get("token", "")), str(form.get("next", ""))
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _login_form(site, request, failed=True)
        response = RedirectResponse(safe_next(target, site.root(request)), status_code=303)
        secure = request.url.scheme == "https"
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token),
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=86400 * 30,
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(site.root(request) + "/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return Response("not found", status_code=404)
        text = resources.files("obmen.web").joinpath("static", name).read_text(encoding="utf-8")
        return Response(text, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})

    out = [
        Route("/", page(overview_page)),
        Route("/objects", page(objects_page)),
        Route("/objects/{entity}/{key:path}", page(object_page)),
        Route("/conflicts", page(conflicts_page)),
        Route("/queue", page(queue_page)),
        Route("/mappings", page(mappings_page)),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/static/{name}", static),
    ]
    out += [
        Route(path, api(handler), methods=methods) for path, (handler, methods) in api_handlers(site).items()
    ]
    return out
