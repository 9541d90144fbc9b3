"""`obmen check` for the portal: the configuration held against what the portal really has.

One pass, read only: authentication and the plan (`app.info`), the scopes obmen needs (`scope`), every
mapped pipeline and stage (`crm.category.list`, `crm.status.list` by `ENTITY_ID`, docs/protocols/bitrix24.md
§5.3) and the invoice stages (§5.5), from the one read the dashboard keeps (`portal.read_portal`), the
catalog iblocks (§5.7), the delivery section and products, and in application mode the events bound to
obmen (`event.get`, §6.1). Each finding is a `Check` with what to do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from obmen.config.mapping import MappingSettings, PipelineMap
from obmen.connectors.base import Check, Survey
from obmen.connectors.bitrix24.client.rest import Bitrix24Client
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.events.notices import EVENTS
from obmen.connectors.bitrix24.portal import PortalRead, read_portal
from obmen.errors import AuthError, ObmenError

__all__ = ["NEEDED_SCOPES", "portal_checks"]

SYSTEM = "bitrix24"
#: What obmen calls: deals, contacts and invoices; the product catalog; the managers (§1.1, §5.6, §5.7).
NEEDED_SCOPES = ("crm", "catalog", "user")
_SEE = "see the reason / см. причину"


def _check(name: str, ok: bool, detail: str, fix: str = "") -> Check:
    return Check(SYSTEM, name, ok, detail, "" if ok else fix)


def _ids(values: Iterable[Any]) -> str:
    shown = sorted(str(v) for v in values)
    return ", ".join(shown[:12]) + (" …" if len(shown) > 12 else "") if shown else "none / нет"


async def portal_checks(
    connector: Bitrix24Connector, mapping: MappingSettings, *, app: bool, handler: str | None
) -> Survey:
    """Every check of one portal, and what was read of it (`portal.read_portal`, read once for both);
    after a refused login the rest are not tried (they would all fail)."""
    client = connector.client
    first = await _auth(client, app=app)
    if not all(c.ok for c in first):
        return Survey(first)
    try:
        read: PortalRead | ObmenError = await read_portal(client, mapping.managers)
    except ObmenError as exc:
        read = exc
    steps: list[tuple[str, Awaitable[list[Check]]]] = [
        ("scopes / права", _scopes(client)),
        ("pipelines / воронки", _pipelines(read, mapping)),
        ("invoices / счета", _invoices(read, mapping)),
        ("catalog / каталог", _catalog(connector)),
        ("delivery / доставка", _delivery(connector, mapping)),
    ]
    if app:
        steps.append(("events / события", _events(client, handler)))
    found = list(first)
    for name, step in steps:
        try:
            found += await step
        except ObmenError as exc:
            # One refused read fails its own line; the others still say what they found.
            found.append(_check(name, False, f"{type(exc).__name__}: {exc}", _SEE))
    return Survey(found, None if isinstance(read, ObmenError) else read.facts)


async def _auth(client: Bitrix24Client, *, app: bool) -> list[Check]:
    """`app.info` answers every valid credential: it tells the login works and the plan allows REST."""
    who = "the application / приложение" if app else "the webhook / вебхук"
    try:
        info = (await client.call("app.info")).result or {}
    except AuthError as exc:
        if "commercial plan" in str(exc).lower() or "ACCESS_DENIED" in str(exc):
            return [
                _check("auth / авторизация", True, f"{who} is recognised"),
                _check(
                    "plan / тариф",
                    False,
                    str(exc),
                    "the portal's plan does not allow REST: move it to a commercial plan "
                    "/ тариф портала не разрешает REST: нужен коммерческий тариф",
                ),
            ]
        fix = (
            "reinstall obmen's application in the portal (its install handler stores new tokens) and check "
            "bitrix24.client_id and client_secret / переустановите приложение и проверьте client_id и "
            "client_secret"
            if app
            else "check bitrix24.portal, webhook_user and webhook_token (OBMEN_BITRIX24__WEBHOOK_TOKEN): "
            "make a new incoming webhook if it was deleted / проверьте portal, webhook_user и webhook_token"
        )
        return [_check("auth / авторизация", False, str(exc), fix)]
    except ObmenError as exc:
        fix = "check bitrix24.portal and that obmen reaches it / проверьте адрес портала и доступ к нему"
        return [_check("auth / авторизация", False, f"{type(exc).__name__}: {exc}", fix)]
    licence = info.get("LICENSE") if isinstance(info, Mapping) else None
    return [
        _check("auth / авторизация", True, f"{who} is accepted"),
        _check("plan / тариф", True, f"REST allowed (licence {licence or 'not told'})"),
    ]


async def _scopes(client: Bitrix24Client) -> list[Check]:
    scopes = {str(s) for s in (await client.call("scope")).result or []}
    missing = [s for s in NEEDED_SCOPES if s not in scopes]
    return [
        _check(
            "scopes / права",
            not missing,
            f"missing {', '.join(missing)} (has {_ids(scopes)})" if missing else ", ".join(NEEDED_SCOPES),
            f"grant the scopes {', '.join(missing)} to obmen's webhook or application (then reinstall it) "
            f"/ добавьте права {', '.join(missing)} вебхуку или приложению",
        )
    ]


def _part(read: PortalRead | ObmenError, part: str) -> dict[str, Any]:
    """One part of the portal's read; its refusal is the check's failure."""
    if isinstance(read, ObmenError):
        raise read
    if part in read.refused:
        raise read.refused[part]
    found: dict[str, Any] = read.facts[part]
    return found


def _mapped_stages(pipeline: PipelineMap) -> set[str]:
    """Every stage id the pipeline's mapping names, with the pipeline's prefix."""
    prefix = f"C{pipeline.category_id}:" if pipeline.category_id else ""
    named = [*pipeline.status_to_stage.values(), *pipeline.stage_to_status, pipeline.fallback_stage]
    return {s if ":" in s else prefix + s for s in named}


async def _pipelines(read: PortalRead | ObmenError, mapping: MappingSettings) -> list[Check]:
    """Every mapped deal pipeline exists, and so does every stage its mapping names (§5.3)."""
    pipelines = _part(read, "pipelines")
    known = {int(c) for c in pipelines if c.isdigit()}
    out: list[Check] = []
    for name, pipeline in sorted(mapping.pipelines.items()):
        where = f"[mapping.pipelines.{name}]"
        if pipeline.category_id not in known:
            out.append(
                _check(
                    f"pipeline {name} / воронка {name}",
                    False,
                    f"category_id {pipeline.category_id} is not a deal pipeline "
                    f"(the portal has {_ids(known)})",
                    f"set {where} category_id to one of the portal's pipelines "
                    f"/ укажите в {where} category_id существующей воронки",
                )
            )
            continue
        real = set(pipelines[str(pipeline.category_id)]["stages"])
        missing = sorted(_mapped_stages(pipeline) - real)
        out.append(
            _check(
                f"stages of {name} / стадии {name}",
                not missing,
                f"not in the portal: {', '.join(missing)} (it has {_ids(real)})"
                if missing
                else f"{len(_mapped_stages(pipeline))} mapped stages exist",
                f"map {where} to the portal's stages, or create the stages in the portal "
                f"/ исправьте стадии в {where} или создайте их в портале",
            )
        )
    return out


async def _invoices(read: PortalRead | ObmenError, mapping: MappingSettings) -> list[Check]:
    """The invoice pipeline exists and holds the unpaid, paid and cancelled stages (§5.5)."""
    stages = mapping.invoice
    pipelines = _part(read, "invoice_pipelines")
    default = next((c for c, p in pipelines.items() if p.get("default")), "0")
    category = stages.category_id or int(default if default.isdigit() else 0)
    known = {int(c) for c in pipelines if c.isdigit()}
    if category not in known:
        return [
            _check(
                "invoice pipeline / воронка счетов",
                False,
                f"category {category} is not a smart-invoice pipeline (the portal has {_ids(known)})",
                "set [mapping.invoice] category_id to 0 (the portal's default) or an existing pipeline "
                "/ укажите в [mapping.invoice] category_id существующей воронки счетов",
            )
        ]
    real = set(pipelines[str(category)]["stages"])
    wanted = {f"DT31_{category}:{s}" for s in (stages.unpaid, stages.paid, stages.cancelled)}
    missing = sorted(wanted - real)
    return [
        _check(
            "invoice stages / стадии счетов",
            not missing,
            f"not in the portal: {', '.join(missing)} (it has {_ids(real)})"
            if missing
            else f"{', '.join(sorted(wanted))}",
            "set [mapping.invoice] unpaid, paid and cancelled to the suffixes of the portal's invoice "
            "stages / исправьте стадии в [mapping.invoice]",
        )
    ]


async def _catalog(connector: Bitrix24Connector) -> list[Check]:
    """The product catalog (and the offers catalog, with variations) exist (§5.7)."""
    try:
        info = await connector.catalog.info()
    except ObmenError as exc:
        return [
            _check(
                "catalog / каталог",
                False,
                str(exc),
                "switch on the CRM's product catalog (module catalog) in the portal "
                "/ включите торговый каталог CRM в портале",
            )
        ]
    offers_needed = connector.catalog.variations
    ok = not offers_needed or info.offers_iblock is not None
    detail = f"products in iblock {info.product_iblock}" + (
        f", offers in iblock {info.offers_iblock}" if info.offers_iblock else ", no offers iblock"
    )
    return [
        _check(
            "catalog / каталог",
            ok,
            detail,
            "bitrix24.variations = true needs the catalog's trade offers (variations) switched on in the "
            "portal, or set variations = false / включите вариации товаров или variations = false",
        )
    ]


async def _delivery(connector: Bitrix24Connector, mapping: MappingSettings) -> list[Check]:
    """Delivery services mapped to products: the section and each product exist (docs/configuration.md)."""
    if not mapping.delivery:
        return [_check("delivery / доставка", True, "no delivery service mapped ([mapping] delivery)")]
    section = mapping.delivery_section
    found = await connector.catalog.match("category", [("xml_id", section)])
    where = found.get(("xml_id", section))
    if where is None:
        return [
            _check(
                "delivery section / раздел доставки",
                False,
                f"no catalog section with xmlId {section!r}",
                f"create a catalog section with the external code {section!r} in the portal, or set "
                f"[mapping] delivery_section / создайте раздел каталога с внешним кодом {section!r}",
            )
        ]
    wanted = sorted(set(mapping.delivery.values()))
    rows = await connector.catalog.rows("product", {"xmlId": wanted})
    inside = {str(r.get("xmlId")) for r in rows if str(r.get("iblockSectionId")) == str(where)}
    missing = [x for x in wanted if x not in inside]
    return [
        _check("delivery section / раздел доставки", True, f"section {where} ({section})"),
        _check(
            "delivery products / товары доставки",
            not missing,
            f"not in section {section}: {', '.join(missing)}" if missing else ", ".join(wanted),
            f"create products with these external codes in the section {section!r}, or fix [mapping] "
            "delivery / создайте товары доставки с этими внешними кодами",
        ),
    ]


async def _events(client: Bitrix24Client, handler: str | None) -> list[Check]:
    """In application mode every event obmen listens to is bound, online (to `handler`) and offline (§6.1)."""
    bound = (await client.call("event.get")).result or []
    online = {
        str(b.get("event")).upper() for b in bound if not b.get("offline") and b.get("handler") == handler
    }
    offline = {str(b.get("event")).upper() for b in bound if b.get("offline")}
    missing = [e for e in EVENTS if e not in offline or (handler and e not in online)]
    return [
        _check(
            "events / события",
            not missing,
            f"not bound: {_ids(missing)}"
            if missing
            else f"{len(EVENTS)} events bound to {handler or 'offline'}",
            "reinstall obmen's application in the portal (its install binds the events); check "
            "web.public_url "
            "/ переустановите приложение в портале и проверьте web.public_url",
        )
    ]
