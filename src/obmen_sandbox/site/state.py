"""What the site sandbox holds: options, exchange sessions, the storefront, injected faults and a call log."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from obmen_sandbox.site.catalog import Catalog
from obmen_sandbox.site.events import RECOMMENDED, Module, SiteEvents
from obmen_sandbox.site.files import Limits, RunDir
from obmen_sandbox.site.orders import OrderBook
from obmen_sandbox.site.rest_state import RestState

__all__ = ["Fault", "Options", "Session", "SiteState", "Steps"]

# An import in progress: each `next()` is one `progress` step; the return value is the success text.
Steps = Generator[str, None, str]

MAX_SESSIONS = 32
FAULT_KINDS = {"status", "html", "delay", "drop_session", "fail_import_step"}


@dataclass(frozen=True)
class Options:
    """How this site is configured (Bitrix module settings that matter to the exchange)."""

    login: str
    password: str
    zip: bool = True
    file_limit: int = 200 * 1024  # Bitrix's 1C_FILE_SIZE_LIMIT default (docs/protocols/commerceml.md §1.3)
    portion: int = 100
    import_new_orders: bool = False
    limits: Limits = field(default_factory=Limits)
    #: An incoming webhook made at start, `"<user id>/<code>"` (the demo's fixed one).
    webhook: str | None = None
    #: An outgoing webhook made at start: the handler URL and its `application_token`, bound to the order's,
    #: payment's and shipment's saves (docs/protocols/site-rest.md §4, §7).
    handler: str | None = None
    handler_token: str = ""
    #: The obmen.ping module installed at start: obmen's ping URL and the shared secret (§5).
    ping_url: str | None = None
    ping_secret: str = ""


@dataclass
class Session:
    """One exchange session: the PHP session cookie, its CSRF key and its work directory."""

    cookie: str
    sessid: str
    started: float
    run: RunDir
    version: str | None = None
    jobs: dict[str, Steps] = field(default_factory=dict)
    full_kinds: set[str] = field(default_factory=set)
    query_versions: dict[int, int] | None = None

    @property
    def timestamp(self) -> int:
        """Line 5 of the catalog checkauth reply."""
        return int(self.started)


@dataclass
class Fault:
    """A misbehaviour the next matching exchange calls suffer."""

    kind: str
    type: str | None = None
    mode: str | None = None
    status: int = 503
    seconds: float = 0.0
    step: int = 1
    times: int = 1
    seen: int = 0

    def json(self) -> dict[str, Any]:
        """The control API's view."""
        return {k: v for k, v in self.__dict__.items() if k != "seen"}


class SiteState:
    """All mutable state; exchange and control handlers take `lock` before touching it."""

    def __init__(self, options: Options, work_dir: Path | None, clock: Callable[[], float]) -> None:
        self.options = options
        self.clock = clock
        if work_dir is None:
            work_dir = Path(tempfile.mkdtemp(prefix="obmen-site-"))
            # Our own temporary directory goes away with the sandbox, quietly.
            weakref.finalize(self, shutil.rmtree, work_dir, ignore_errors=True)
        self.work_dir = work_dir
        self.lock = asyncio.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything: catalog, orders, sessions (with their files), faults and the log."""
        for session in getattr(self, "sessions", {}).values():
            shutil.rmtree(session.run.root, ignore_errors=True)
        self.catalog = Catalog()
        self.book = OrderBook(self.now, self.options.import_new_orders)
        self.events = getattr(self, "events", None) or SiteEvents(clock=self.clock)
        self.events.reset()
        self.book.listener = self.events.saved
        self.rest = RestState()
        self._configure()
        self.sessions: dict[str, Session] = {}
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []

    def _configure(self) -> None:
        """What the options set up at start, again after a reset (a reset empties the shop, not its setup)."""
        o = self.options
        if o.webhook:
            user, _, code = o.webhook.partition("/")
            self.rest.add(int(user), code)
        if o.handler:
            self.events.bind(o.handler, RECOMMENDED, o.handler_token)
        if o.ping_url:
            self.events.module = Module(o.ping_url, o.ping_secret)

    def now(self) -> datetime:
        """Server local time, as Bitrix prints it."""
        return datetime.fromtimestamp(self.clock())

    def open_session(self) -> Session:
        """A new PHP session after a successful checkauth."""
        cookie = secrets.token_hex(16)
        run = RunDir(self.work_dir / cookie, self.options.limits)
        run.reset()
        session = Session(cookie, secrets.token_hex(16), self.clock(), run)
        self.sessions[cookie] = session
        # A long-running sandbox sees a checkauth per exchange: keep the newest sessions only.
        while len(self.sessions) > MAX_SESSIONS:
            oldest = next(iter(self.sessions))
            shutil.rmtree(self.sessions.pop(oldest).run.root, ignore_errors=True)
        return session

    def take_fault(self, type_: str, mode: str) -> Fault | None:
        """The first armed fault matching this call; it is spent when its count runs out."""
        for fault in self.faults:
            if (fault.type or type_) != type_ or (fault.mode or mode) != mode:
                continue
            if fault.kind == "fail_import_step":
                fault.seen += 1
                if fault.seen < fault.step:
                    continue
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
            return fault
        return None

    def record(self, entry: dict[str, Any]) -> None:
        """Keep the last 1000 protocol calls for tests and people."""
        self.log.append(entry)
        del self.log[:-1000]
