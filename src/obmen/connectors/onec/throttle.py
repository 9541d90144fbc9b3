"""Slowing down password guessing at the 1C endpoint without ever locking the right password out.

A lock-out ("5 failures, then refuse for 5 minutes") lets anyone who can reach the endpoint keep 1C out, and
behind a reverse proxy every client shares one address. So nothing is refused here: the password is
checked first, the right one passes at once, and only a *wrong* guess is answered late. Guesses are counted
per client address and login; each wrong guess of a pair waits longer than the one before (0.5 s, 1 s, 2 s …
up to 30 s), and the pair's wrong guesses are answered one at a time, so parallel connections do not
multiply an attacker's rate. A pair is forgiven after a right password or a quiet quarter of an hour.

The client address is the peer's, or, when the peer is one of `web.trusted_proxies`, the nearest address
in `X-Forwarded-For` that is not a trusted proxy (docs/operations.md §8.2).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request

from obmen.errors import growth

__all__ = ["Guesses", "TrustedProxies"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The addresses whose `X-Forwarded-For` is believed."""

    def __init__(self, entries: Sequence[str] = ()) -> None:
        self.networks: list[Network] = [ipaddress.ip_network(e.strip(), strict=False) for e in entries]

    def trusted(self, address: str) -> bool:
        """Whether `address` is one of the trusted proxies."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client(self, request: Request) -> str:
        """The address a request comes from, through trusted proxies only."""
        peer = request.client.host if request.client else "?"
        if not self.trusted(peer):
            return peer
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        # Read from the right: every hop up to the first untrusted one was appended by our own proxies.
        for hop in reversed(hops):
            if not self.trusted(hop):
                return hop
        return hops[0] if hops else peer


@dataclass
class _Pair:
    wrong: int = 0
    last: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Guesses:
    """Wrong guesses per (client address, login), each answered later than the one before."""

    FIRST = 0.5
    CAP = 30.0
    FORGET = 900.0
    #: Pairs remembered at most (the oldest are forgotten first: a flood of addresses costs bounded memory).
    PAIRS = 10_000

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._pairs: dict[tuple[str, str], _Pair] = {}

    def delay(self, wrong: int) -> float:
        """How long the `wrong`-th consecutive wrong guess waits."""
        return growth(wrong, base=self.FIRST, cap=self.CAP)

    def forgive(self, address: str, login: str) -> None:
        """A right password: the pair starts afresh."""
        self._pairs.pop((address, login), None)

    async def wrong(self, address: str, login: str) -> float:
        """Count a wrong guess and wait its delay (one of the pair at a time); returns the delay."""
        now = self.clock()
        key = (address, login)
        pair = self._pairs.get(key)
        if pair is None or now - pair.last > self.FORGET:
            pair = _Pair()
        self._pairs.pop(key, None)
        self._pairs[key] = pair  # most recent last
        while len(self._pairs) > self.PAIRS:
            self._pairs.pop(next(iter(self._pairs)))
        async with pair.lock:
            pair.wrong += 1
            pair.last = self.clock()
            wait = self.delay(pair.wrong)
            await self.sleep(wait)
        return wait
