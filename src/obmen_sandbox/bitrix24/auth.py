"""Who is calling: incoming webhooks and OAuth 2.0 applications (docs/protocols/bitrix24.md §1.1, §1.2).

Applications are installed through the control API; their access tokens live 3600 s by the sandbox
clock, refresh tokens rotate on every refresh (the old one stops working), authorization codes live 30 s.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from obmen_sandbox.bitrix24.registry import Call, Clock, RestError

__all__ = ["ACCESS_LIFETIME", "App", "Auth", "OAuthError"]

ACCESS_LIFETIME = 3600
CODE_LIFETIME = 30
SCOPES = frozenset({"crm", "catalog", "user", "user_brief", "basic", "placement", "bizproc", "sale"})


class OAuthError(Exception):
    """An error of the token endpoint (D:settings/oauth/error-codes.md)."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(code)
        self.code = code
        self.description = description
        self.status = status


@dataclass
class App:
    """An installed local application."""

    client_id: str
    client_secret: str
    application_token: str
    handler: str | None = None
    events_handler: str | None = None
    user_id: int = 1
    scopes: frozenset[str] = SCOPES


@dataclass
class _Access:
    client_id: str
    user_id: int
    expires: float


@dataclass
class Auth:
    """Webhook credentials, installed apps and their tokens."""

    clock: Clock
    webhook_user: int
    webhook_token: str
    apps: dict[str, App] = field(default_factory=dict)
    _access: dict[str, _Access] = field(default_factory=dict)
    _refresh: dict[str, tuple[str, int]] = field(default_factory=dict)
    _codes: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    _event_tokens: dict[str, str] = field(default_factory=dict)
    _numbers: Any = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Forget every application and token (the webhook stays)."""
        self.apps.clear()
        self._access.clear()
        self._refresh.clear()
        self._codes.clear()
        self._event_tokens.clear()

    def install(self, handler: str | None, events_handler: str | None, user_id: int = 1) -> App:
        """Register a local application and return it."""
        number = next(self._numbers)
        app = App(
            client_id=f"local.{number:014x}.{secrets.randbelow(10**8):08d}",
            client_secret=secrets.token_urlsafe(36)[:50],
            application_token=secrets.token_hex(16),
            handler=handler,
            events_handler=events_handler,
            user_id=user_id,
        )
        self.apps[app.client_id] = app
        return app

    def issue(self, app: App, user_id: int | None = None) -> tuple[str, str]:
        """A fresh (access token, refresh token) pair for the app."""
        access = secrets.token_hex(36)
        refresh = secrets.token_hex(36)
        uid = user_id or app.user_id
        self._access[access] = _Access(app.client_id, uid, self.clock.now() + ACCESS_LIFETIME)
        self._refresh[refresh] = (app.client_id, uid)
        return access, refresh

    def access_for(self, app: App) -> str:
        """An access token for event payloads (D:…/events/index.md: apps get the user's tokens).

        One token serves an app's events while it has more than a minute to live, so that a burst of
        10,000 events does not mint 10,000 tokens.
        """
        now = self.clock.now()
        held = self._event_tokens.get(app.client_id)
        if held is not None and held in self._access and self._access[held].expires - now > 60:
            return held
        token = secrets.token_hex(36)
        self._access[token] = _Access(app.client_id, app.user_id, now + ACCESS_LIFETIME)
        self._event_tokens[app.client_id] = token
        return token

    def code(self, app: App, user_id: int | None = None) -> str:
        """An authorization code living 30 s (D:settings/oauth/index.md)."""
        value = secrets.token_hex(36)
        self._codes[value] = (app.client_id, user_id or app.user_id, self.clock.now() + CODE_LIFETIME)
        return value

    def webhook_call(self, user: str, token: str) -> int:
        """The webhook's user id, or NO_AUTH_FOUND for a wrong user or code (§2.3: 401)."""
        if user != str(self.webhook_user) or not secrets.compare_digest(token, self.webhook_token):
            raise RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        return self.webhook_user

    def app_call(self, token: Any) -> tuple[App, int]:
        """The app and user behind an access token; NO_AUTH_FOUND, invalid_token or expired_token (401)."""
        if not token:
            raise RestError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        access = self._access.get(str(token))
        if access is None or access.client_id not in self.apps:
            raise RestError("invalid_token", "Unable to get application by token", 401)
        if self.clock.now() >= access.expires:
            raise RestError("expired_token", "The access token provided has expired.", 401)
        return self.apps[access.client_id], access.user_id

    def grant(self, params: Mapping[str, Any]) -> tuple[App, int]:
        """Check a token-endpoint request; returns the app and user, consuming the code or refresh token."""
        app = self.apps.get(str(params.get("client_id") or ""))
        if app is None or str(params.get("client_secret") or "") != app.client_secret:
            raise OAuthError("invalid_client", "Invalid client", 401)
        grant_type = params.get("grant_type")
        if grant_type == "refresh_token":
            held = self._refresh.pop(str(params.get("refresh_token") or ""), None)
            if held is None or held[0] != app.client_id:
                raise OAuthError("invalid_grant", "Invalid grant")
            return app, held[1]
        if grant_type == "authorization_code":
            code = self._codes.pop(str(params.get("code") or ""), None)
            if code is None or code[0] != app.client_id or self.clock.now() >= code[2]:
                raise OAuthError("invalid_grant", "Invalid grant")
            return app, code[1]
        raise OAuthError("invalid_request", "Unsupported grant_type")

    def call_for(self, name: str, params: Mapping[str, Any], user_id: int, app: App | None) -> Call:
        """The `Call` a method sees."""
        connector = params.get("auth_connector")
        return Call(
            name=name,
            params={k: v for k, v in params.items() if k not in ("auth", "auth_connector")},
            user_id=user_id,
            app=app.client_id if app else None,
            auth_connector=str(connector) if connector else None,
            scopes=app.scopes if app else SCOPES,
        )
