"""The overview page: each system's health, the counts, the loads with their ETA, throughput and latency
charts, recent changes."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from obmen.store.keeper import lease_rows
from obmen.store.objects import summaries
from obmen.store.outages import Outage
from obmen.store.overview import overview
from obmen.store.timeline import read_propagations
from obmen.web.context import Site
from obmen.web.i18n import Words, refusal
from obmen.web.loads import loads_section
from obmen.web.markup import Html, age, bars, cell, esc, line_chart, table, when
from obmen.web.names import field_name, link
from obmen.web.queue import parked_section
from obmen.web.render import Section, respond

__all__ = ["overview_page"]

_SYSTEMS = ("onec", "site", "bitrix24")
#: Counts an operator should look at when they are not zero.
_ALERTS = ("parked", "conflicts", "held")


async def overview_page(site: Site, request: Request) -> Response:
    """`/`: the overview."""
    words, root = site.words(request), site.root(request)
    now = site.clock()

    async def systems() -> str:
        data = await overview(site.db, site.tenant, now=now, hours=1, bucket=3600)
        return _systems(site, data, words, now) + _counts(data["counts"], words, root)

    async def charts() -> str:
        data = await overview(site.db, site.tenant, now=site.clock(), hours=24, bucket=3600)
        return _charts(data["series"], words)

    async def recent() -> str:
        return await _recent(site, words, root)

    async def loops() -> str:
        async with site.db.begin() as conn:
            leases = await lease_rows(conn, site.tenant, now=site.clock())
        return _loops(leases, words, site.clock())

    async def loads() -> str:
        return await loads_section(site, words)

    async def parked() -> str:
        # The newest few above the fold; the queue page has them all, by reason.
        return await parked_section(site, request, limit=5, offset=0, groups=False)

    sections = [
        Section("systems", 5, systems),
        Section("loads", 3, loads),
        Section("loops", 5, loops),
        Section("parked", 5, parked),
        Section("charts", 30, charts),
        Section("recent", 3, recent),
    ]
    return await respond(site, request, title=words("overview"), active="overview", sections=sections)


def _health(entry: dict[str, Any]) -> str:
    """`refused` (its breaker is open), `ok`, `failing` (its last write failed after the last success) or
    `idle` (nothing heard yet)."""
    if entry.get("outage") is not None:
        return "refused"
    failure, ok = entry.get("last_failure"), entry.get("last_write_at")
    if failure is not None and (ok is None or failure["at"] > ok):
        return "failing"
    return "ok" if ok or entry.get("last_event_at") else "idle"


def _system_rows(
    site: Site, name: str, entry: dict[str, Any], words: Words, now: float
) -> list[tuple[str, Any]]:
    """What one system's card says: its last exchanges, writes, failures, links, portal requests."""
    rows: list[tuple[str, Any]] = []
    outage: Outage | None = entry.get("outage")
    if outage is not None:
        rows.append((words("refuses"), Html(_refusal(outage, words, name=False))))
    for cp in entry["checkpoints"][:3]:
        ago = f"{age(now - cp['at'], words)} {words('ago')}"
        rows.append(
            (f"{words('last_event')} ({cp['source']})", Html(f"{when(cp['at'], words)} · {esc(ago)}"))
        )
        if cp["value"]:
            rows.append(("", str(cp["value"])[:160]))
    last = entry["last_write_at"]
    rows.append((words("last_write"), when(last, words) if last else words("never")))
    rows.append((words("writes_1h"), f"{entry['writes']} · {words('failed')}: {entry['failed']}"))
    failure = entry["last_failure"]
    if failure:
        rows.append(
            (words("last_failure"), Html(f"{when(failure['at'], words)} {esc(failure['error'] or '')}"))
        )
    rows.append((words("linked"), entry["links"]))
    counters = site.options.counters() if name == "bitrix24" and site.options.counters else None
    if counters is not None:
        rows.append((words("requests"), counters.requests))
    return rows


def _refusal(outage: Outage, words: Words, *, name: bool = True) -> str:
    """The breaker's sentence (web.i18n.refusal) with the page's times."""
    since, probe = when(outage.since, words), when(outage.next_probe, words)
    return refusal(words, outage.system, outage.reason, since, probe, named=name, esc=esc)


def _systems(site: Site, data: dict[str, Any], words: Words, now: float) -> str:
    systems = data["systems"]
    banners = "".join(
        f"<p class='outage' data-outage='{esc(name)}'>{_refusal(entry['outage'], words)}</p>"
        for name, entry in systems.items()
        if entry.get("outage") is not None
    )
    cards = []
    for name in [s for s in _SYSTEMS if s in systems] + sorted(set(systems) - set(_SYSTEMS)):
        rows = _system_rows(site, name, systems[name], words, now)
        body = "".join(f"<tr><th>{esc(k)}</th>{cell(v)}</tr>" for k, v in rows)
        cards.append(
            f"<div class='card {_health(systems[name])}' data-system='{esc(name)}'>"
            f"<h3><span class='dot'></span>{esc(words(name))}</h3><table class='kv'>{body}</table></div>"
        )
    if not cards:
        return f"<h2>{esc(words('systems'))}</h2><p class='empty'>{esc(words('nothing'))}</p>"
    return f"<h2>{esc(words('systems'))}</h2>{banners}<div class='cards'>{''.join(cards)}</div>"


def _loops(leases: list[dict[str, Any]], words: Words, now: float) -> str:
    """Each loop's lease: who holds it since when, its last step, and a stalled one flagged (§10)."""
    rows = []
    for lease in leases:
        tick = lease["ticked_at"]
        last = (
            "—"
            if tick is None
            else Html(f"{when(tick, words)} · {esc(age(now - tick, words))} {esc(words('ago'))}")
        )
        state = lease["state"]
        rows.append(
            [
                words(f"loop.{lease['loop']}", lease["loop"]),
                lease["holder"],
                when(lease["since"], words),
                last,
                lease["doing"] or "",
                cell(words(f"lease.{state}"), f"lease {state}"),
            ]
        )
    heads = [words(k) for k in ("loop", "holder", "since", "last_tick", "doing", "state")]
    return f"<h2>{esc(words('loops'))}</h2>" + table(heads, rows, empty=words("nothing"), cls="leases")


def _counts(counts: dict[str, int], words: Words, root: str) -> str:
    tiles = [
        ("queued", counts["queued"] + counts["delayed"], "queue"),
        ("running", counts["running"], "queue"),
        ("waiting", counts["waiting"], "queue#waiting"),
        ("held", counts["held"], "queue#waiting"),
        ("retrying", counts["retrying"], "queue#waiting"),
        ("parked", counts["parked"], "queue#parked"),
        ("conflicts", counts["conflicts"], "conflicts"),
    ]
    out = "".join(
        f"<a class='tile{' alert' if n and key in _ALERTS else ''}' data-count='{key}'"
        f" href='{esc(root)}/{target}'><b>{n}</b>{esc(words(key))}</a>"
        for key, n, target in tiles
    )
    return f"<div class='tiles'>{out}</div>"


def _charts(series: list[dict[str, Any]], words: Words) -> str:
    def hour(at: float) -> str:
        return time.strftime("%d.%m %H:00", time.localtime(at))

    throughput = bars([(hour(p["at"]), p["writes"], p["failed"]) for p in series], label=words("throughput"))
    latency = line_chart(
        [(hour(p["at"]), p["latency_avg"], p["latency_max"]) for p in series], label=words("latency")
    )
    return (
        "<div class='charts'>"
        f"<figure><figcaption>{esc(words('throughput'))}</figcaption>{throughput}</figure>"
        f"<figure><figcaption>{esc(words('latency'))}</figcaption>{latency}</figure></div>"
    )


async def _recent(site: Site, words: Words, root: str) -> str:
    items = await read_propagations(site.db, site.tenant, limit=20)
    named = await summaries(site.db, site.tenant, {(p["entity"], p["canonical_id"]) for p in items})
    rows = [
        [
            when(p["at"], words),
            link(root, p["entity"], p["canonical_id"], named, words),
            words(f"ev.{p['action']}", p["action"]),
            ", ".join(field_name(words, f) for f in p["changed"]),
            f"{words(p['source_system'] or 'obmen')} → {words(p['target_system'])}",
            p["trigger"],
            "—" if p["latency"] is None else f"{p['latency'] * 1000:.0f} ms",
        ]
        for p in items
    ]
    heads = [words(k) for k in ("time", "object", "action", "fields", "from_to", "trigger", "delay")]
    return f"<h2>{esc(words('recent'))}</h2>" + table(heads, rows, empty=words("nothing"))
