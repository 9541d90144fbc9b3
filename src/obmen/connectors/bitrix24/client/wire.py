"""Bitrix24 REST wire format: PHP bracket encoding, envelopes, and the one place errors are classified.

Every fact here is from `docs/protocols/bitrix24.md` §2 (encoding, envelopes, error codes and HTTP statuses)
and
§4 (batch command strings).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from obmen.errors import (
    AccessRefused,
    AuthError,
    NotFound,
    ObmenError,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
)

__all__ = [
    "SYSTEM",
    "ApiError",
    "MethodNotFound",
    "Reply",
    "TokenExpired",
    "classify",
    "encode_query",
    "flatten",
    "parse_reply",
]


class ApiError(PermanentError):
    """Bitrix24 refused a call with an error code it documents; the code and method travel with it."""

    def __init__(self, message: str, *, code: str, status: int, method: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.method = method


class MethodNotFound(ApiError):
    """The portal does not have this method (box lagging cloud, module off:).

    See docs/protocols/bitrix24.md §1.3.
    """


class TokenExpired(AuthError):
    """The OAuth access token outlived its hour; refresh and repeat (docs/protocols/bitrix24.md §1.2)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful REST answer: the payload and the envelope fields around it."""

    result: Any
    total: int | None = None
    next: int | None = None
    time: Mapping[str, Any] = field(default_factory=dict)


def flatten(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested params into PHP bracket pairs: `fields[PHONE][0][VALUE]` (docs/protocols/bitrix24.md).

    See §2.1.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        pairs.extend(_flatten_value(name, value))
    return pairs


def _flatten_value(name: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        if not value:
            return [(name, "")]
        return flatten(value, name)
    if isinstance(value, list | tuple):
        if not value:
            return [(name, "")]
        return flatten({str(i): item for i, item in enumerate(value)}, name)
    if value is None:
        return [(name, "")]
    if isinstance(value, bool):
        # PHP reads "Y"/"N" for CRM flags, but many fields want 1/0; callers pass strings where it matters.
        return [(name, "Y" if value else "N")]
    return [(name, str(value))]


def encode_query(params: Mapping[str, Any]) -> str:
    """A query string for a batch command; the inner values are URL-encoded once (docs/protocols/bitrix24.md).

    See §4.
    """
    return "&".join(f"{quote(key, safe='[]')}={quote(value, safe='')}" for key, value in flatten(params))


def parse_reply(status: int, content_type: str, body: bytes, method: str) -> Reply:
    """Turn an HTTP answer into a `Reply`, or raise the error it stands for."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Proxies answer HTML on timeouts and overload (docs/protocols/bitrix24.md §2.3, I#FB-216): try again
        # later.
        kind = "HTML" if "html" in content_type or body.lstrip()[:1] == b"<" else "a non-JSON body"
        exc_cls = TransientError if status >= 500 or status in (0, 429) or kind == "HTML" else ProtocolError
        raise exc_cls(f"Bitrix24 answered {method} with HTTP {status} and {kind}")
    if "error" in data and "result" not in data:
        raise classify(status, str(data.get("error") or ""), str(data.get("error_description") or ""), method)
    if status >= 400:
        raise classify(status, "", f"HTTP {status} without an error code", method)
    return Reply(
        result=data.get("result"),
        total=_int_or_none(data.get("total")),
        next=_int_or_none(data.get("next")),
        time=data.get("time") or {},
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


#: Refusals of one method (a scope the application lacks, a user's rights): the items that need it park.
_AUTH_CODES = {"insufficient_scope", "invalid_scope", "user_access_error", "INVALID_REQUEST"}
#: Refusals of obmen as a whole (a wrong webhook, dead tokens, a plan without REST, a closed portal):
#: every call would fail alike, so the portal's breaker opens (docs/architecture.md §2.13).
_REFUSED_CODES = {
    "NO_AUTH_FOUND",
    "INVALID_CREDENTIALS",
    "WRONG_AUTH_TYPE",
    "invalid_grant",
    "invalid_token",
    "invalid_client",
    "PAYMENT_REQUIRED",
    "PORTAL_DELETED",
}

#: The system name the portal's refusals carry (its breaker's name).
SYSTEM = "bitrix24"


def classify(
    status: int, code: str, description: str, method: str, *, reset_in: float | None = None
) -> ObmenError:
    """Map one Bitrix24 error to the obmen error tree (the only place this happens)."""
    text = f"Bitrix24 {method}: {code or 'error'} ({status}): {description}".rstrip(": ")
    if code == "QUERY_LIMIT_EXCEEDED":
        return RateLimited(text, retry_after=1.0)
    if code == "OVERLOAD_LIMIT":
        # A manual block by Bitrix24 support; retrying soon only adds to the overload
        # (docs/protocols/bitrix24.md §2.3).
        return RateLimited(text, retry_after=600.0)
    if code == "OPERATION_TIME_LIMIT":
        return RateLimited(text, retry_after=reset_in if reset_in is not None else 60.0)
    if code == "expired_token":
        return TokenExpired(text)
    if code in _REFUSED_CODES or status == 401 or (code == "ACCESS_DENIED" and status == 403):
        return AccessRefused(text, system=SYSTEM, reason=f"{code or status}: {description}".rstrip(": "))
    if code in _AUTH_CODES:
        return AuthError(text)
    if code in ("INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER") or status >= 500:
        return TransientError(text)
    if code == "ERROR_METHOD_NOT_FOUND":
        return MethodNotFound(text, code=code, status=status, method=method)
    if code == "NOT_FOUND" or (not code and "not found" in description.lower()):
        return _not_found(text, code, status, method)
    return ApiError(text, code=code, status=status, method=method)


class _NotFound(NotFound, ApiError):
    """A `NotFound` that also carries the Bitrix24 code."""


def _not_found(text: str, code: str, status: int, method: str) -> ObmenError:
    return _NotFound(text, code=code, status=status, method=method)
