"""Application mode: what happens when the portal installs obmen's local application.

Bitrix24 POSTs `ONAPPINSTALL` with `auth[...]` (tokens and the `application_token`) to the install
handler (bitrix24.md §1.2, §6.3). Nothing in that call can be verified against a stored secret, so the
installer checks it the only way there is: the portal must be the configured one and the access token
must work there (a forged install carries a token the real portal refuses). Then the tokens are stored
(before anything uses them) and the online and offline events are bound (§6.1, §6.5).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from obmen.connectors.bitrix24.auth import DEFAULT_AUTH_URL, OAuth, SaveTokens, Tokens
from obmen.connectors.bitrix24.client import Bitrix24Client
from obmen.connectors.bitrix24.events import bind_events
from obmen.errors import AuthError

__all__ = ["AppInstaller"]


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
    ) -> None:
        self.portal = _host(portal)
        self._client_id = client_id
        self._client_secret = client_secret
        self._save = save
        self.handler = handler
        self.connector = connector
        self._auth_url = auth_url
        self._client_factory = client_factory or (lambda auth: Bitrix24Client(auth, limits="cloud"))

    async def __call__(self, tokens: Tokens) -> None:
        """Check, store and bind; raises `AuthError` for an install that is not from our portal."""
        if _host(tokens.client_endpoint) != self.portal:
            raise AuthError(f"install from {tokens.client_endpoint!r}, but obmen serves {self.portal!r}")
        oauth = OAuth(
            tokens,
            client_id=self._client_id,
            client_secret=self._client_secret,
            save=self._save,
            auth_url=self._auth_url,
        )
        async with self._client_factory(oauth) as client:
            # `scope` answers only to a token the portal issued: a forged install stops here.
            await client.call("scope")
            await self._save(oauth.tokens)
            await bind_events(client, self.handler, connector=self.connector)


def _host(url: str) -> str:
    """The host of a URL or of a bare domain, lower-cased."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    return (parts.hostname or "").lower()
