"""Who may see the dashboard and call `/api`: the holder of `web.admin_token`.

The token travels as `Authorization: Bearer <token>`, as the password of HTTP Basic (any user name), or,
after the login form, as a session cookie that holds an HMAC of the token (never the token itself;
HttpOnly, SameSite=Strict), so changing the token logs every browser out. POSTs from another site are
refused whatever they carry, so a page elsewhere cannot press the dashboard's buttons.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["SESSION_COOKIE", "allowed", "api_denied", "cross_site", "safe_next", "session_value"]

SESSION_COOKIE = "obmen_session"


def session_value(token: str) -> str:
    """The session cookie's value for this token."""
    return hmac.new(token.encode(), b"obmen dashboard session", hashlib.sha256).hexdigest()


def _presented(request: Request) -> str | None:
    """The token in `Authorization`: Bearer, or the password of Basic (what a browser prompts for)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def allowed(request: Request, token: str | None) -> bool:
    """Whether the request carries the token (or a session made with it); always, without a token."""
    if token is None:
        return True
    given = _presented(request)
    if given is not None:
        return hmac.compare_digest(given.encode(), token.encode())
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def api_denied() -> Response:
    """The 401 of an API call without the token."""
    response = JSONResponse(
        {"error": "нужен токен администратора / admin token required (Authorization: Bearer <token>)"},
        status_code=401,
    )
    response.headers.append("WWW-Authenticate", 'Basic realm="obmen", charset="UTF-8"')
    response.headers.append("WWW-Authenticate", 'Bearer realm="obmen"')
    return response


def cross_site(request: Request) -> bool:
    """A browser says where a POST comes from; one from another site is refused."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    return origin is not None and origin != "null" and urlsplit(origin).netloc != request.headers.get("host")


def safe_next(target: str | None, root: str) -> str:
    """Where to go after logging in: a path of this app only, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return root + "/"
    return target
