"""`obmen demo`: the three sandboxes and obmen on loopback, wired as an integrator would wire them.

The sandboxes run on real sockets in threads of their own (processes of their own for the benchmark);
obmen (web app, worker, scheduler, site exchange) runs on this event loop. Bitrix24 runs in application
mode, as production should: the demo plays the portal administrator who registers and installs obmen's
local application, and obmen's own installer checks the tokens, stores them and binds the events
(bitrix24.md §1.2, §6.1), so deal changes reach obmen as pushed events. `DIR/endpoints.json` tells a
person or a script where everything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from obmen.config import Settings, load_settings
from obmen.connectors.bitrix24.auth import TokenFile, Tokens
from obmen.connectors.bitrix24.install import AppInstaller
from obmen.runtime import CONNECTOR, Runtime, WebServer, build_runtime, serve
from obmen.store.database import upgrade
from obmen_sandbox.bitrix24 import Bitrix24Sandbox
from obmen_sandbox.onec import OnecSandbox
from obmen_sandbox.serving import free_port, run_in_process, serve_in_process, serve_in_thread
from obmen_sandbox.site import EXCHANGE_PATH, SiteSandbox

__all__ = ["Stack", "Tuning", "running_stack"]

WEBHOOK = "1/demowebhooktoken"


@dataclass
class Stack:
    """Where everything listens, and obmen's runtime."""

    obmen: str
    bitrix24: str
    site: str
    onec: str
    onec_login: str
    onec_password: str
    site_login: str
    site_password: str
    #: obmen's runtime when it runs in this process (None with `Tuning.processes`).
    runtime: Runtime | None

    def endpoints(self) -> dict[str, Any]:
        """The `endpoints.json` document (base URLs; `webhook` ends with `/`)."""
        return {
            "obmen": {"url": self.obmen},
            "onec_exchange": {
                "url": f"{self.obmen}/exchange/1c",
                "login": self.onec_login,
                "password": self.onec_password,
            },
            "bitrix24": {
                "webhook": f"{self.bitrix24}/rest/{WEBHOOK}/",
                "sandbox": f"{self.bitrix24}/_sandbox",
            },
            "site": {
                "exchange": f"{self.site}{EXCHANGE_PATH}",
                "login": self.site_login,
                "password": self.site_password,
                "sandbox": f"{self.site}/_sandbox",
            },
            "onec": {"sandbox": f"{self.onec}/_sandbox"},
        }


@dataclass(frozen=True)
class Tuning:
    """The knobs `bench/flows.py` turns; the defaults are the demo's (a cloud portal, as most shops have)."""

    #: The portal's plan, for the sandbox's bucket and obmen's client alike (bitrix24.md §3).
    limits: str = "cloud"
    site_poll: float = 1.0
    worker_poll: float = 0.2
    worker_concurrency: int = 2
    b24_poll_every: float = 5.0
    #: Run the sandboxes and obmen in processes of their own, as the real systems are (the benchmark's
    #: way); `Stack.runtime` is then None.
    processes: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)

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


@contextlib.contextmanager
def _sandboxes(
    obmen: str, creds: dict[str, str], fixture: Path | None, limits: str = "cloud", processes: bool = False
) -> Iterator[tuple[str, str, str]]:
    parts: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (Bitrix24Sandbox, {"webhook": WEBHOOK, "limits": limits, "domain": "127.0.0.1"}),
        (
            SiteSandbox,
            {"login": creds["site_login"], "password": creds["site_password"], "import_new_orders": True},
        ),
        (
            OnecSandbox,
            {
                "target": f"{obmen}/exchange/1c",
                "login": creds["onec_login"],
                "password": creds["onec_password"],
                "fixture": fixture,
            },
        ),
    ]
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(
                serve_in_process(factory, kwargs) if processes else serve_in_thread(factory(**kwargs).app)
            )
            for factory, kwargs in parts
        ]
        yield urls[0], urls[1], urls[2]


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


def _fresh(state_dir: Path) -> None:
    """An empty folder, or one a previous demo left (its sandboxes are gone, so is what obmen knew)."""
    if state_dir.exists() and any(state_dir.iterdir()):
        if not (state_dir / "endpoints.json").exists():
            raise FileExistsError(
                f"{state_dir} is not empty and was not made by a demo: choose another --state-dir"
            )
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)


@contextlib.asynccontextmanager
async def running_stack(
    state_dir: Path, *, fixture: Path | None = None, tuning: Tuning = Tuning()
) -> AsyncIterator[Stack]:
    """Start the sandboxes and obmen (tuned by `tuning`, the demo's defaults otherwise); stop on exit."""
    await asyncio.to_thread(_fresh, state_dir)
    port = free_port()
    obmen = f"http://127.0.0.1:{port}"
    creds = {
        "onec_login": "1c",
        "onec_password": secrets.token_urlsafe(12),
        "site_login": "obmen",
        "site_password": secrets.token_urlsafe(12),
    }
    with _sandboxes(obmen, creds, fixture, tuning.limits, tuning.processes) as (b24, site, onec):
        async with httpx.AsyncClient() as http:
            app = (await http.post(f"{b24}/_sandbox/apps", json={"handler": None})).json()
        env = _env(state_dir, obmen, b24, site, creds, app, tuning) | {"OBMEN_WEB__PORT": str(port)}
        settings = load_settings(None, env=env)
        await asyncio.to_thread(upgrade, settings.database.url)
        await _install(settings, b24, app)
        if tuning.processes:
            # obmen on its own, as `obmen run` would be: it shares no interpreter with the load.
            with run_in_process(_obmen, (env,), "127.0.0.1", port):
                yield await _stack(state_dir, Stack(obmen, b24, site, onec, runtime=None, **creds))
            return
        runtime = await build_runtime(settings)
        server = WebServer(uvicorn.Config(runtime.app, host="127.0.0.1", port=port, log_level="warning"))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(server.serve()), asyncio.create_task(runtime.run(stop))]
        # uvicorn tells only by a flag that it listens; a serve task that ended has failed to start.
        while not server.started:
            if tasks[0].done():
                await runtime.aclose()
                raise RuntimeError(f"obmen could not listen on {obmen}: {tasks[0].exception()}")
            await asyncio.sleep(0.02)
        try:
            yield await _stack(state_dir, Stack(obmen, b24, site, onec, runtime=runtime, **creds))
        finally:
            stop.set()
            server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.aclose()


async def _stack(state_dir: Path, stack: Stack) -> Stack:
    """The stack, once its `endpoints.json` is written."""
    text = json.dumps(stack.endpoints(), indent=2)
    await asyncio.to_thread((state_dir / "endpoints.json").write_text, text, encoding="utf-8")
    return stack


def _obmen(env: dict[str, str]) -> None:
    """obmen in a process of its own (`Tuning.processes`): `obmen run` on the demo's settings."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(load_settings(None, env=env), log_level="warning"))
