"""`obmen sandbox …`: run one of the three emulators on its own (rehearsals, manual testing).

The sandboxes are written from the protocol references and never import obmen (docs/architecture.md §2.10);
this module only starts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obmen.cli.common import typer_app

__all__ = ["sandbox_app"]

sandbox_app = typer_app(help="Run a sandbox: Bitrix24 REST, a 1C-Bitrix site, or 1C.", no_args_is_help=True)

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Login = Annotated[str, typer.Option(help="Exchange login.")]
Password = Annotated[str, typer.Option(help="Exchange password.", envvar="OBMEN_SANDBOX_PASSWORD")]


@sandbox_app.command("bitrix24")
def bitrix24(
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8024,
    webhook: Annotated[str, typer.Option(help="USER/TOKEN of the incoming webhook.")] = "1/sandboxtoken",
    limits: Annotated[str, typer.Option(help="cloud | enterprise | off")] = "off",
) -> None:
    """A Bitrix24 portal's REST API: webhook calls go to http://HOST:PORT/rest/USER/TOKEN/<method>."""
    from obmen_sandbox import bitrix24 as sandbox

    if limits not in ("cloud", "enterprise", "off"):
        raise typer.BadParameter("expected cloud, enterprise or off", param_hint="--limits")
    sandbox.serve(host=host, port=port, webhook=webhook, limits=limits)


@sandbox_app.command("site")
def site(
    login: Login,
    password: Password,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8025,
    file_limit: Annotated[int, typer.Option(help="The largest chunk the site accepts (init).")] = 204800,
    zip_allowed: Annotated[bool, typer.Option("--zip/--no-zip", help="Whether the site takes zip.")] = True,
    import_new_orders: Annotated[
        bool, typer.Option(help="Create orders from 1C documents the site does not know.")
    ] = False,
    webhook: Annotated[
        str | None, typer.Option(help="An incoming REST webhook made at start, '<user id>/<code>'.")
    ] = None,
    handler: Annotated[
        str | None, typer.Option(help="An outgoing webhook posting the sale events to this URL.")
    ] = None,
    handler_token: Annotated[str, typer.Option(help="The outgoing webhook's application_token.")] = "",
) -> None:
    """A 1C-Bitrix site: the exchange at /bitrix/admin/1c_exchange.php, its REST at /rest/…, a storefront."""
    from obmen_sandbox import site as sandbox

    sandbox.serve(
        host,
        port,
        login,
        password,
        file_limit=file_limit,
        zip=zip_allowed,
        import_new_orders=import_new_orders,
        webhook=webhook,
        handler=handler,
        handler_token=handler_token,
    )


@sandbox_app.command("onec")
def onec(
    target: Annotated[str, typer.Option(help="The exchange URL 1C calls (obmen's /exchange/1c, or a site).")],
    login: Login,
    password: Password,
    host: Host = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the control API.")] = 8026,
    fixture: Annotated[
        Path | None, typer.Option(help="A folder of CommerceML files to load the infobase from.")
    ] = None,
) -> None:
    """A 1C infobase that runs the standard site exchange as a client when told to (/_sandbox)."""
    from obmen_sandbox import onec as sandbox

    sandbox.serve(host, port, target, login, password, fixture)
