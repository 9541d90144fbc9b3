"""Application mode: what happens when the portal installs obmen's local application.

Bitrix24 POSTs `ONAPPINSTALL` with `auth[...]` (tokens and the `application_token`) to the install
handler (docs/protocols/bitrix24.md §1.2, §6.3). Nothing in that call is signed, so the installer accepts
it only when everything it can check holds:

- the tokens' `client_endpoint` is the configured portal: same scheme, host and port (another portal on
  the same host is another portal);
- the `member_id` is the configured one (`bitrix24.member_id`), when one is configured;
- the access token works on the configured portal, and `app.info` there names the configured application
  (`CODE` is the `client_id`): the tokens of another application on the same portal are refused;
- once the application is installed, an install for another member or another application is refused
  unless the operator allows it (`bitrix24.allow_reinstall`, or the install call carries
  `Authorization: Bearer <web.admin_token>`).

Then the tokens are stored (before anything uses them) and the online and offline events are bound
(§6.1, §6.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

from obmen.connectors.bitrix24.client.auth import DEFAULT_AUTH_URL, LoadTokens, OAuth, SaveTokens, Tokens
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.connectors.bitrix24.events.notices import bind_events
from obmen.errors import AuthError

__all__ = ["AppInstaller", "origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


class AppInstaller:
    """The install callback of obmen's local application on one portal."""

    def __init__(
        self,
        *,
        portal: str,
        client_id: str,
        client_secret: str,
        save: SaveTokens,
        handler: str | None,
        connector: str = "obmen",
        auth_url: str = DEFAULT_AUTH_URL,
        client_factory: Callable[[OAuth], Bitrix24Client] | None = None,
        load: LoadTokens | None = None,
        member_id: str | None = None,
        allow_reinstall: bool = False,
    ) -> None:
        self.portal = origin(portal)
        self._client_id = client_id
        self._client_secret = client_secret
        self._save = save
        self._load = load
        self.handler = handler
        self.connector = connector
        self.member_id = member_id or ""
        self.allow_reinstall = allow_reinstall
        self._auth_url = auth_url
        self._client_factory = client_factory or (lambda auth: Bitrix24Client(auth, limits="cloud"))

    async def __call__(self, tokens: Tokens, *, operator: bool = False) -> None:
        """Check, store and bind; raises `AuthError` for an install that is not ours to take.

        `operator` says the install call carried the operator's admin token.
        """
        self._check_claims(tokens)
        await self._check_installed(tokens, operator or self.allow_reinstall)
        oauth = OAuth(
            tokens,
            client_id=self._client_id,
            client_secret=self._client_secret,
            save=self._save,
            auth_url=self._auth_url,
        )
        async with self._client_factory(oauth) as client:
            # Only a token the configured portal issued gets an answer, and the answer names its application.
            info = (await client.call("app.info")).result
            code = str(info.get("CODE") or "") if isinstance(info, dict) else ""
            if code != self._client_id:
                raise AuthError(
                    f"install of application {code or '?'!r}, but obmen is application {self._client_id!r}"
                )
            await self._save(replace(oauth.tokens, client_id=code))
            await bind_events(client, self.handler, connector=self.connector)

    def _check_claims(self, tokens: Tokens) -> None:
        if not self._client_id:
            raise AuthError("bitrix24.client_id is not set: obmen cannot tell its application from another")
        if origin(tokens.client_endpoint) != self.portal:
            shown = "://".join((self.portal[0], f"{self.portal[1]}:{self.portal[2]}"))
            raise AuthError(f"install from {tokens.client_endpoint!r}, but obmen serves {shown!r}")
        if self.member_id and tokens.member_id != self.member_id:
            raise AuthError(f"install for member {tokens.member_id!r}, but obmen serves {self.member_id!r}")

    async def _check_installed(self, tokens: Tokens, allowed: bool) -> None:
        held = await self._load() if self._load is not None else None
        if held is None or allowed:
            return
        if held.member_id and tokens.member_id != held.member_id:
            raise AuthError(
                f"obmen is installed for member {held.member_id!r}; an install for {tokens.member_id!r} "
                "needs the operator (bitrix24.allow_reinstall or the admin token)"
            )
        if held.client_id and held.client_id != self._client_id:
            raise AuthError(
                f"obmen is installed as application {held.client_id!r}; installing {self._client_id!r} "
                "needs the operator (bitrix24.allow_reinstall or the admin token)"
            )


def origin(url: str) -> tuple[str, str, int]:
    """Scheme, lower-cased host and port (the scheme's default when absent) of a URL or a bare domain."""
    parts = urlsplit(url if "//" in url else f"https://{url}")
    scheme = (parts.scheme or "https").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = -1  # not a port: equal to no configured portal
    return scheme, (parts.hostname or "").lower(), port
