"""The mapping tables of `[mapping]` as obmen applies them (docs/configuration.md), each beside what the
systems really have as `obmen check` last read it (web.mapping_facts), with when that was."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from obmen.store.facts import Facts, read_facts
from obmen.web.context import Site
from obmen.web.i18n import Words
from obmen.web.mapping_facts import Known, beside, invoice, pipeline, scalars
from obmen.web.markup import age, esc, when
from obmen.web.render import Section, respond

__all__ = ["mappings_page"]

_TITLES = {
    "pipelines": ("Статус заказа ⇄ стадия сделки, по воронкам", "Order status ⇄ deal stage, per pipeline"),
    "sites": ("Сайт → воронка", "Site → pipeline"),
    "onec_statuses": ("Статусы 1С → коды статусов", "1C statuses → status codes"),
    "onec_odata_statuses": ("Статусы 1С (OData) → коды статусов", "1C statuses (OData) → status codes"),
    "invoice": ("Стадии счёта по оплате", "Invoice stages by payment"),
    "warehouses": ("Склады → склады Битрикс24", "Warehouses → Bitrix24 stores"),
    "delivery": ("Службы доставки → товары", "Delivery services → products"),
    "payment_systems": ("Платёжные системы", "Payment systems"),
    "managers": ("Менеджеры", "Managers"),
    "order_properties": ("Свойства заказа → поля сделки", "Order properties → deal fields"),
    "catalog_properties": ("Свойства каталога (артикул, штрихкод)", "Catalog properties (article, barcode)"),
}
_SYSTEMS = ("onec", "site", "bitrix24")


def _title(key: str, words: Words) -> str:
    pair = _TITLES.get(key)
    return key if pair is None else pair[0 if words.lang == "ru" else 1]


def _refresh(site: Site, root: str, words: Words) -> str:
    """The button that reads the systems now, where this process can."""
    if site.options.refresh_facts is None:
        return ""
    return (
        f"<form method='post' action='{esc(root)}/api/facts/refresh' data-json>"
        f"<button type='submit' data-refresh-facts>{esc(words('read_now'))}</button></form>"
    )


def _read_when(facts: dict[str, Facts], words: Words, now: float) -> str:
    """When each system's facts were read, or that they were not: what to run."""
    rows = []
    for system in _SYSTEMS:
        found = facts.get(system)
        said = (
            f"{when(found.read_at, words)} · {esc(age(now - found.read_at, words))} {esc(words('ago'))}"
            if found is not None
            else esc(words("not_read"))
        )
        rows.append(f"<li data-facts='{system}'>{esc(words(system))}: {said}</li>")
    return f"<p class='note'>{esc(words('facts_read'))}</p><ul class='facts'>{''.join(rows)}</ul>"


def render(mapping: dict[str, Any], facts: dict[str, Facts], words: Words, now: float) -> str:
    """Every table of the mapping, the scalar settings first, each beside the systems' facts."""
    known = Known(facts, words)
    flat = {k: v for k, v in mapping.items() if not isinstance(v, dict)}
    out = [_read_when(facts, words, now), f"<h2>[mapping]</h2>{scalars(flat, known)}"]
    for key, value in mapping.items():
        if not isinstance(value, dict):
            continue
        out.append(f"<h2>{esc(_title(key, words))} <code>{esc(key)}</code></h2>")
        if key == "pipelines":
            out += [pipeline(name, pipe, known) for name, pipe in value.items()]
        elif key == "invoice":
            out.append(invoice(value, known))
        elif all(not isinstance(v, dict) for v in value.values()):
            out.append(beside(key, value, known))
        else:
            out += [f"<h3>{esc(k)}</h3>{beside(key, v, known)}" for k, v in value.items()]
    return "".join(out)


async def mappings_page(site: Site, request: Request) -> Response:
    """`/mappings`."""
    words = site.words(request)
    mapping = site.options.mapping

    async def tables() -> str:
        if mapping is None:
            return f"<p class='empty'>{esc(words('nothing'))}</p>"
        facts = await read_facts(site.db, site.tenant)
        button = _refresh(site, site.root(request), words)
        return button + render(mapping.model_dump(mode="json"), facts, words, site.clock())

    # Live, so that what a click on «Read now» kept shows at once (the page's script refreshes live
    # sections after a form); the facts change only on a check or that click.
    sections = [Section("mapping", 60, tables)]
    return await respond(site, request, title=words("mappings"), active="mappings", sections=sections)
