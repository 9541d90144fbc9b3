"""`obmen check` for the site in `rest` mode: the incoming webhook answers, holds the scopes obmen needs
(docs/protocols/site-rest.md §2.1) and reads orders. Nothing is written."""

from __future__ import annotations

from obmen.connectors.base import Check
from obmen.connectors.site.rest.client import SiteRest
from obmen.errors import AuthError, ObmenError

__all__ = ["NEEDED", "rest_checks"]

SYSTEM = "site"
#: The scopes obmen's calls need (`sale.*`); `catalog` is not called (the catalog goes by the exchange, §6.4).
NEEDED = frozenset({"sale"})
_FIX_WEBHOOK = (
    "check site.rest_url and site.rest_token (OBMEN_SITE__REST_TOKEN): the site's incoming webhook "
    "`/rest/<user>/<code>/` must exist (docs/protocols/site-rest.md §7) / проверьте входящий вебхук сайта"
)


async def rest_checks(client: SiteRest, *, events: str) -> list[Check]:
    """The webhook (`scope`), its scopes, and a read of the newest order; `events` says how changes come."""
    try:
        granted = (await client.call("scope")).get("result")
    except AuthError as exc:
        return [Check(SYSTEM, "REST webhook / вебхук", False, str(exc), _FIX_WEBHOOK)]
    except ObmenError as exc:
        return [Check(SYSTEM, "REST webhook / вебхук", False, f"{type(exc).__name__}: {exc}", _FIX_WEBHOOK)]
    scopes = {str(s) for s in granted} if isinstance(granted, list) else set()
    checks = [Check(SYSTEM, "REST webhook / вебхук", True, f"answers; changes arrive by {events}")]
    missing = sorted(NEEDED - scopes)
    fix = (
        f"give the webhook the scope {', '.join(missing)} (the site's «Вебхуки» page or the bitrix:rest.hook "
        "component, docs/protocols/site-rest.md §1) / добавьте вебхуку права"
    )
    detail = (
        f"missing {', '.join(missing)}; has {', '.join(sorted(scopes)) or 'none'}"
        if missing
        else (f"has {', '.join(sorted(scopes))}")
    )
    checks.append(Check(SYSTEM, "webhook scopes / права вебхука", not missing, detail, fix))
    if missing:
        return checks
    try:
        body = await client.call("sale.order.list", {"select": ["id"], "order": {"id": "desc"}})
    except ObmenError as exc:
        fix = "the webhook's user must be allowed to read orders («администратор магазина») / дайте права"
        checks.append(Check(SYSTEM, "orders / заказы", False, f"{type(exc).__name__}: {exc}", fix))
        return checks
    checks.append(Check(SYSTEM, "orders / заказы", True, f"sale.order.list: {body.get('total', 0)} orders"))
    return checks
