"""Credentials for a portal: an incoming webhook, or an OAuth application with rotating tokens.

OAuth facts (docs/protocols/bitrix24.md §1.2): the access token lives an hour and `expired_token` (401) says
so; every
refresh returns a *new* refresh token and the old one dies, so concurrent 401s must become one refresh
(I#b24jssdk-182) and the new refresh token must be stored before anything uses it, or a crash right
after the refresh locks us out. The auth host differs between the docs (`oauth.bitrix.info`) and the
official SDK (`oauth.bitrix24.tech`), so it is configuration, never a constant.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from obmen.errors import AccessRefused, AuthError, ProtocolError, TransientError
from obmen.store.private import private_dir

__all__ = ["DEFAULT_AUTH_URL", "OAuth", "TokenFile", "Tokens", "Webhook"]

DEFAULT_AUTH_URL = "https://oauth.bitrix.info/oauth/token/"
#: How long a process that lost a refresh race waits for the winner's tokens to be stored.
_RACE_POLLS, _RACE_PAUSE = 20, 0.1


@dataclass(frozen=True, slots=True)
class Webhook:
    """An incoming webhook: `https://portal/rest/USER/CODE/`; calls go to `<url><method>`."""

    url: str

    def __post_init__(self) -> None:
        if not self.url.endswith("/"):
            object.__setattr__(self, "url", self.url + "/")

    def __repr__(self) -> str:
        # The code in the URL is the secret: never print it (secrets are masked everywhere).
        head, _, _ = self.url.rstrip("/").rpartition("/")
        return f"Webhook({head}/***/)"


@dataclass(frozen=True, slots=True)
class Tokens:
    """What an application holds for one portal after install or refresh."""

    access_token: str
    refresh_token: str
    client_endpoint: str
    expires_at: float = 0.0
    member_id: str = ""
    application_token: str = ""
    #: The application these tokens belong to (`app.info` `CODE` at install); "" in files written before.
    client_id: str = ""

    def __repr__(self) -> str:
        return f"Tokens(client_endpoint={self.client_endpoint!r}, member_id={self.member_id!r}, ...)"


#: Persist rotated tokens; called with the new tokens before any request uses them.
SaveTokens = Callable[[Tokens], Awaitable[None]]
#: Read the persisted tokens (another process may have refreshed them).
LoadTokens = Callable[[], Awaitable[Tokens | None]]


class TokenFile:
    """Tokens in a JSON file only the owner can read, replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def save(self, tokens: Tokens) -> None:
        """Persist `tokens` (the refresh token has just rotated: losing it locks obmen out)."""
        await asyncio.to_thread(self._write, tokens)

    def _write(self, tokens: Tokens) -> None:
        if not self.path.parent.exists():
            private_dir(self.path.parent)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(tokens), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    async def load(self) -> Tokens | None:
        """The persisted tokens, or None before the application was installed."""
        return await asyncio.to_thread(self._read)

    def _read(self) -> Tokens | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise AuthError(f"Bitrix24 token file {self.path} is not JSON: {exc}") from exc
        return Tokens(**{k: v for k, v in data.items() if k in Tokens.__dataclass_fields__})


class OAuth:
    """An OAuth application's session on one portal, with single-flight refresh."""

    def __init__(
        self,
        tokens: Tokens,
        *,
        client_id: str,
        client_secret: str,
        save: SaveTokens,
        auth_url: str = DEFAULT_AUTH_URL,
        clock: Callable[[], float] = time.time,
        load: LoadTokens | None = None,
    ) -> None:
        self._tokens = tokens
        self._client_id = client_id
        self._client_secret = client_secret
        self._save = save
        self._auth_url = auth_url
        self._clock = clock
        self._load = load
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def tokens(self) -> Tokens:
        """The current tokens."""
        return self._tokens

    async def moved(self, client_endpoint: str) -> None:
        """The portal answered from a new address (302 after a rename): call it there from now on."""
        self._tokens = replace(self._tokens, client_endpoint=client_endpoint)
        # Stored too, or every restart would start at the old address again (docs/protocols/bitrix24.md §1.3).
        await self._save(self._tokens)

    async def refresh(self, http: httpx.AsyncClient, stale: str) -> Tokens:
        """Refresh once for everyone who saw `stale` expire; later callers get the new tokens.

        The lock makes one refresh per process; across processes the persisted tokens decide: a
        process that finds newer tokens stored (or loses the race with `invalid_grant`) adopts them.
        """
        async with self._lock:
            if self._tokens.access_token != stale:
                return self._tokens
            if await self._adopt_stored(stale):
                return self._tokens
            used = self._tokens.refresh_token
            params = {
                "grant_type": "refresh_token",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "refresh_token": used,
            }
            try:
                data = await _token_request(http, self._auth_url, params)
            except AuthError:
                # Another process may have won the race and be storing its tokens right now.
                for _ in range(_RACE_POLLS):
                    if await self._adopt_stored(stale):
                        return self._tokens
                    await asyncio.sleep(_RACE_PAUSE)
                raise
            fresh = _tokens_from(data, self._tokens, self._clock())
            # Persist before use: the old refresh token is dead from now on (docs/protocols/bitrix24.md §1.2).
            await self._save(fresh)
            self._tokens = fresh
            self.refreshes += 1
            return fresh

    async def _adopt_stored(self, stale: str) -> bool:
        stored = await self._load() if self._load else None
        if stored is None or stored.access_token in (stale, self._tokens.access_token):
            return False
        self._tokens = stored
        return True


async def _token_request(http: httpx.AsyncClient, url: str, params: Mapping[str, str]) -> Mapping[str, Any]:
    try:
        response = await http.get(url, params=params)
    except httpx.HTTPError as exc:
        raise TransientError(f"Bitrix24 OAuth server unreachable at {url}: {exc!r}") from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise TransientError(f"Bitrix24 OAuth server answered HTTP {response.status_code} without JSON")
    if "error" in data:
        # invalid_grant: the refresh token is dead, only a new authorisation helps (docs/protocols/bitrix24.md
        # §1.2).
        reason = f"{data['error']}: {data.get('error_description', '')}".rstrip(": ")
        raise AccessRefused(f"Bitrix24 OAuth refused the refresh: {reason}", system="bitrix24", reason=reason)
    return data


def _tokens_from(data: Mapping[str, Any], old: Tokens, now: float) -> Tokens:
    try:
        access, refresh = str(data["access_token"]), str(data["refresh_token"])
    except KeyError as exc:
        raise ProtocolError(f"Bitrix24 OAuth answer lacks {exc.args[0]}") from exc
    return Tokens(
        access_token=access,
        refresh_token=refresh,
        client_endpoint=str(data.get("client_endpoint") or old.client_endpoint),
        expires_at=now + float(data.get("expires_in") or 3600),
        member_id=str(data.get("member_id") or old.member_id),
        application_token=old.application_token,
        client_id=old.client_id,
    )
