"""`obmen demo`: the three sandboxes and obmen on loopback, wired as an integrator would wire them.

With `Tuning.processes` (what `obmen demo` and the benchmark use) each sandbox and obmen run in a process
of their own, as the real systems do, and obmen is restarted on the same state when it dies; otherwise
(the end-to-end tests) the sandboxes run in threads and obmen on this event loop. obmen reads its
configuration from `DIR/obmen.toml` and `DIR/secrets.toml`, written as an integrator would write them
(`demo/config.py`), so every `obmen … --config DIR/obmen.toml` command works against the stack.
Bitrix24 runs in application mode, as production should: the demo plays the portal administrator who
registers and installs obmen's local application, and obmen's own installer checks the tokens, stores them
and binds the events (docs/protocols/bitrix24.md §1.2, §6.1), so deal changes reach obmen as pushed events.
`Tuning.site_mode` and `Tuning.onec_mode` choose the partners' paths (`demo/modes.py`): `obmen demo` runs
the site's REST and 1C's OData with its ping extension, `--exchange-only` and the tests' default the
CommerceML exchanges; every stack of the tests and benchmarks starts here (`obmen.testing.site_rest` and
`obmen.testing.odata_stack` only choose the modes). `DIR/endpoints.json` tells a person or a script where
everything is, and which process runs what (`demo/endpoints.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn

from obmen.app.runtime import Runtime, WebServer, build_runtime, serve
from obmen.config.load import load_settings
from obmen.config.settings import Settings
from obmen.connectors.bitrix24.client.auth import TokenFile, Tokens
from obmen.connectors.bitrix24.install import AppInstaller
from obmen.connectors.bitrix24.setup import CONNECTOR
from obmen.demo.config import write_config
from obmen.demo.endpoints import WEBHOOK, Stack
from obmen.demo.modes import (
    ODATA_LOGIN,
    SITE_WEBHOOK_USER,
    Secrets,
    arm_extension,
    crm_buyer,
    odata_env,
    site_options,
    site_rest_env,
)
from obmen.store.database import upgrade
from obmen.store.private import private_dir, write_private
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import Child, free_port, serve_in_thread, spawn_server
from obmen_sandbox.site import EXCHANGE_PATH, SiteSandbox

__all__ = ["DEMO", "WEBHOOK", "Stack", "Tuning", "live_demo", "running_stack", "stopped_demo"]

log = logging.getLogger(__name__)

#: How often the supervisor looks whether obmen still runs (`Tuning.processes`).
WATCH = 0.5


@dataclass(frozen=True)
class Tuning:
    """The knobs `bench/flows.py` turns; the defaults are the demo's (a cloud portal, as most shops have)."""

    #: The portal's plan, for the sandbox's bucket and obmen's client alike (docs/protocols/bitrix24.md §3).
    limits: str = "cloud"
    site_poll: float = 1.0
    worker_poll: float = 0.2
    worker_concurrency: int = 2
    b24_poll_every: float = 5.0
    #: Run the sandboxes and obmen in processes of their own, as the real systems are (the benchmark's
    #: way); `Stack.runtime` is then None.
    processes: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    #: `site.mode`: "exchange" (CommerceML, polled every `site_poll` s) or "rest" (webhook and events).
    site_mode: Literal["exchange", "rest"] = "exchange"
    #: How the site's events reach obmen in `rest` mode: "webhook", "ping" (the obmen.ping module), "none".
    site_events: str = "webhook"
    #: `onec.mode`: "exchange" (1C calls obmen on its schedule) or "odata" (obmen reads and writes 1C).
    onec_mode: Literal["exchange", "odata"] = "exchange"
    #: In `odata` mode: the ObmenPing extension is installed (pings), or 1C is only polled.
    odata_extension: bool = True
    #: `onec.odata_poll_interval`: how often 1C's changes are read without a ping.
    odata_poll: float = 2.0
    #: Called once the sandboxes listen, before obmen starts: shapes a system before obmen first reads it
    #: (a portal with stores and inventory management, which obmen reads once).
    prepare: Callable[[httpx.AsyncClient, Stack], Awaitable[None]] | None = field(default=None, compare=False)

    def exchange_only(self) -> Tuning:
        """The same stack with both partners on the CommerceML exchange (`obmen demo --exchange-only`)."""
        return dataclasses.replace(self, site_mode="exchange", onec_mode="exchange")

    def env(self) -> dict[str, str]:
        """The settings' environment overrides."""
        return {
            "OBMEN_WORKER__POLL_INTERVAL": str(self.worker_poll),
            "OBMEN_WORKER__CONCURRENCY": str(self.worker_concurrency),
            "OBMEN_SITE__POLL_INTERVAL": str(self.site_poll),
            "OBMEN_BITRIX24__POLL_EVERY": str(self.b24_poll_every),
            "OBMEN_BITRIX24__LIMITS": self.limits,
            **self.extra_env,
        }


#: What `obmen demo` runs: every part in a process of its own, the site through its REST and events, 1C
#: through OData with its ping extension, and the order's comment under the `conflict` rule, so that flow
#: 8 shows a conflict and its resolution (`DEMO.exchange_only()` for the CommerceML paths).
DEMO = Tuning(
    processes=True,
    site_mode="rest",
    onec_mode="odata",
    extra_env={"OBMEN_FIELD_POLICY__ORDER.COMMENT": "conflict"},
)


@contextlib.contextmanager
def _sandboxes(
    obmen: str, keys: Secrets, fixture: Path | None, tuning: Tuning
) -> Iterator[list[tuple[str, int]]]:
    creds = keys.creds()
    site = {"login": creds["site_login"], "password": creds["site_password"], "import_new_orders": True}
    site |= site_options(obmen, keys, mode=tuning.site_mode, events=tuning.site_events)
    onec: dict[str, Any] = {
        # In `odata` mode obmen serves no /exchange/1c and nothing runs 1C's exchange.
        "target": f"{obmen}/exchange/1c",
        "login": creds["onec_login"],
        "password": creds["onec_password"],
        "fixture": fixture,
    }
    if tuning.onec_mode == "odata":
        onec |= {"odata_login": ODATA_LOGIN, "odata_password": keys.odata_password}
    parts: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (Bitrix24Sandbox, {"webhook": WEBHOOK, "limits": tuning.limits, "domain": "127.0.0.1"}),
        (SiteSandbox, site),
        (OnecSandbox, onec),
    ]
    with contextlib.ExitStack() as stack:
        if tuning.processes:
            yield [stack.enter_context(spawn_server(factory, kwargs)) for factory, kwargs in parts]
        else:
            threads = [
                stack.enter_context(serve_in_thread(factory(**kwargs).app)) for factory, kwargs in parts
            ]
            yield [(url, os.getpid()) for url in threads]


async def _modes(http: httpx.AsyncClient, stack: Stack, keys: Secrets, tuning: Tuning) -> dict[str, str]:
    """The settings of the site's and 1C's modes; `stack` learns their endpoints."""
    env: dict[str, str] = {}
    stack.site_mode, stack.onec_mode = tuning.site_mode, tuning.onec_mode
    if tuning.site_mode == "rest":
        env |= site_rest_env(
            stack.site,
            keys.site_code,
            outgoing_token=keys.site_token,
            ping_secret=keys.ping_secret,
            crm_buyer=await crm_buyer(http, stack.site),
        )
        stack.site_rest = f"{stack.site}/rest/{SITE_WEBHOOK_USER}/{keys.site_code}/"
    if tuning.onec_mode == "odata":
        found = (await http.get(f"{stack.onec}/_sandbox/odata")).raise_for_status().json()
        stack.odata = {k: str(found[k]) for k in ("odata", "odata_login", "odata_password")}
        env |= odata_env(
            stack.odata,
            token=keys.hook_token,
            extension=tuning.odata_extension,
            poll_interval=tuning.odata_poll,
        )
    return env


def _env(
    state_dir: Path,
    obmen: str,
    b24: str,
    site: str,
    creds: dict[str, str],
    app: dict[str, Any],
    tuning: Tuning = Tuning(),
) -> dict[str, str]:
    """The settings of obmen in the stack, as the environment `obmen run` would read them."""
    env = {
        "OBMEN_STATE_DIR": str(state_dir),
        "OBMEN_WEB__PUBLIC_URL": obmen,
        "OBMEN_ONEC__LOGIN": creds["onec_login"],
        "OBMEN_ONEC__PASSWORD": creds["onec_password"],
        "OBMEN_SITE__EXCHANGE_URL": f"{site}{EXCHANGE_PATH}",
        "OBMEN_SITE__LOGIN": creds["site_login"],
        "OBMEN_SITE__PASSWORD": creds["site_password"],
        "OBMEN_BITRIX24__MODE": "app",
        # 1C's products have characteristics: in the CRM they are parents with variations (§5.7).
        "OBMEN_BITRIX24__VARIATIONS": "true",
        "OBMEN_BITRIX24__PORTAL": b24,
        "OBMEN_BITRIX24__AUTH_HOST": b24,
        "OBMEN_BITRIX24__CLIENT_ID": app["client_id"],
        "OBMEN_BITRIX24__CLIENT_SECRET": app["client_secret"],
    }
    return env | tuning.env()


async def _install(settings: Settings, b24: str, app: dict[str, Any]) -> None:
    """What the portal's install call hands obmen, run through obmen's own installer."""
    tokens = Tokens(
        access_token=app["access_token"],
        refresh_token=app["refresh_token"],
        client_endpoint=f"{b24}/rest/",
        member_id=app["member_id"],
        application_token=app["application_token"],
    )
    installer = AppInstaller(
        portal=b24,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        save=TokenFile(settings.state_dir / "bitrix24-tokens.json").save,
        handler=f"{settings.web.public_url}/hooks/bitrix24",
        connector=CONNECTOR,
        auth_url=f"{b24}/oauth/token/",
    )
    await installer(tokens)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process: alive, and not ours to judge
    return True


def live_demo(state_dir: Path) -> dict[str, Any] | None:
    """The `endpoints.json` of a demo that still runs in `state_dir` (its obmen's process lives), if any."""
    try:
        doc = json.loads((state_dir / "endpoints.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = (doc.get("pids") or {}).get("obmen") if isinstance(doc, dict) else None
    return doc if isinstance(pid, int) and pid != os.getpid() and _alive(pid) else None


def stopped_demo(state_dir: Path) -> dict[str, Any] | None:
    """The `endpoints.json` of a demo that ran in `state_dir` and stopped (its obmen's process is gone)."""
    try:
        doc = json.loads((state_dir / "endpoints.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and live_demo(state_dir) is None else None


def _fresh(state_dir: Path) -> None:
    """An empty folder, or one a previous demo left (its sandboxes are gone, so is what obmen knew)."""
    if live_demo(state_dir) is not None:
        raise FileExistsError(f"a demo still runs in {state_dir}: stop it first (Ctrl+C where it runs)")
    if state_dir.exists() and any(state_dir.iterdir()):
        if not (state_dir / "endpoints.json").exists():
            raise FileExistsError(
                f"{state_dir} is not empty and was not made by a demo: choose another --state-dir"
            )
        shutil.rmtree(state_dir)
    private_dir(state_dir)


@contextlib.asynccontextmanager
async def running_stack(
    state_dir: Path,
    *,
    fixture: Path | None = None,
    tuning: Tuning = Tuning(),
    say: Callable[[str], None] = log.warning,
) -> AsyncIterator[Stack]:
    """Start the sandboxes and obmen (tuned by `tuning`, the demo's defaults otherwise); stop on exit.

    `say` is told what the supervisor does (obmen died and was restarted).
    """
    state_dir = await asyncio.to_thread(state_dir.resolve)
    await asyncio.to_thread(_fresh, state_dir)
    port = free_port()
    obmen = f"http://127.0.0.1:{port}"
    keys = Secrets()
    creds = keys.creds()
    with _sandboxes(obmen, keys, fixture, tuning) as parts:
        (b24, b24_pid), (site, site_pid), (onec, onec_pid) = parts
        stack = Stack(
            obmen,
            b24,
            site,
            onec,
            creds["onec_login"],
            creds["onec_password"],
            creds["site_login"],
            creds["site_password"],
            runtime=None,
            pids={"bitrix24": b24_pid, "site": site_pid, "onec": onec_pid},
        )
        async with httpx.AsyncClient(timeout=30) as http:
            app = (await http.post(f"{b24}/_sandbox/apps", json={"handler": None})).json()
            env = _env(state_dir, obmen, b24, site, creds, app, tuning) | {"OBMEN_WEB__PORT": str(port)}
            env |= await _modes(http, stack, keys, tuning)
            if tuning.prepare is not None:
                await tuning.prepare(http, stack)
        stack.config = config = await asyncio.to_thread(write_config, state_dir, env)
        # From here on obmen knows only its files, as `obmen run --config` would.
        settings = load_settings(config, env={})
        await asyncio.to_thread(upgrade, settings.database.url)
        await _install(settings, b24, app)
        if tuning.processes:
            async with _supervised(stack, state_dir, port, say):
                await _extension(stack, keys, tuning)
                yield stack
            return
        async with _in_process(settings, port) as runtime:
            stack.runtime, stack.pids["obmen"] = runtime, os.getpid()
            await _extension(stack, keys, tuning)
            yield await _stack(state_dir, stack)


async def _extension(stack: Stack, keys: Secrets, tuning: Tuning) -> None:
    """Once obmen listens: 1C's ObmenPing extension installed and pinging it (`odata` mode), or not."""
    if tuning.onec_mode != "odata":
        return
    async with httpx.AsyncClient(timeout=30) as http:
        await arm_extension(
            http, stack.onec, stack.obmen, installed=tuning.odata_extension, token=keys.hook_token
        )


@contextlib.asynccontextmanager
async def _supervised(
    stack: Stack, state_dir: Path, port: int, say: Callable[[str], None]
) -> AsyncIterator[None]:
    """obmen in a process of its own, restarted on the same state whenever it dies."""
    assert stack.config is not None
    child = Child(_obmen, (str(stack.config),), "127.0.0.1", port)
    stack.pids["obmen"] = await asyncio.to_thread(child.start)
    await _stack(state_dir, stack)
    stopping = asyncio.Event()

    async def watch() -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=WATCH)
            if stopping.is_set() or child.alive():
                continue
            code = child.exitcode
            say(
                f"obmen (pid {child.pid}) stopped with exit code {code}; restarting it on the same state "
                f"/ obmen остановился, перезапускаю на тех же данных"
            )
            stack.pids["obmen"] = await asyncio.to_thread(child.start)
            stack.restarts += 1
            await _stack(state_dir, stack)
            say(f"obmen runs again (pid {stack.pids['obmen']}) / obmen снова работает")

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        stopping.set()
        await watcher
        await asyncio.to_thread(child.stop)


@contextlib.asynccontextmanager
async def _in_process(settings: Settings, port: int) -> AsyncIterator[Runtime]:
    """obmen on this event loop (the tests' way: one interpreter, quick to start)."""
    runtime = await build_runtime(settings)
    server = WebServer(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(server.serve()), asyncio.create_task(runtime.run(stop))]
    # uvicorn tells only by a flag that it listens; a serve task that ended has failed to start.
    while not server.started:
        if tasks[0].done():
            await runtime.aclose()
            raise RuntimeError(f"obmen could not listen on port {port}: {tasks[0].exception()}")
        await asyncio.sleep(0.02)
    try:
        yield runtime
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.aclose()


async def _stack(state_dir: Path, stack: Stack) -> Stack:
    """The stack, once its `endpoints.json` is written (mode 600: it holds the exchange passwords)."""
    text = json.dumps(stack.endpoints(), indent=2)
    # It holds the passwords of the stack: only its owner may read it (docs/operations.md §8.5).
    await asyncio.to_thread(write_private, state_dir / "endpoints.json", text)
    return stack


def _obmen(config: str) -> None:
    """obmen in a process of its own (`Tuning.processes`): `obmen run --config DIR/obmen.toml`."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(load_settings(Path(config), env={}), log_level="warning"))
