"""The overview's loads (`obmen sync --full`, `obmen sync KEY…`): done / total, rate and ETA, as the
terminal's progress bars and `/metrics` show them (obmen.store.progress)."""

from __future__ import annotations

from obmen.store.progress import Load, read_loads
from obmen.web.context import Site
from obmen.web.i18n import Words
from obmen.web.markup import Html, age, esc, table, when

__all__ = ["LOADS_SHOWN", "loads_section"]

#: Loads shown on the overview, in `/metrics` and `/api/progress`, newest first (older ones stay stored).
LOADS_SHOWN = 5


def _state(load: Load, words: Words) -> str:
    return words("load.finished" if load.finished else "load.scanning" if load.scanning else "load.running")


def _bar(load: Load) -> Html:
    share = 1.0 if load.finished else (load.done / load.total if load.total else 0.0)
    return Html(
        f"<td class='load'><progress max='{max(load.total, 1)}' value='{load.done}'></progress> "
        f"<b data-done='{load.done}' data-total='{load.total}'>{load.done} / {load.total}</b> "
        f"({share:.0%})</td>"
    )


def _eta(load: Load, words: Words, now: float) -> str:
    eta = load.eta(now)
    if load.finished:
        return "—"
    return words("eta_unknown") if eta is None else age(eta, words)


async def loads_section(site: Site, words: Words) -> str:
    """The newest loads; a line saying there are none otherwise."""
    now = site.clock()
    loads = (await read_loads(site.db, site.tenant))[:LOADS_SHOWN]
    title = f"<h2>{esc(words('loads'))}</h2>"
    if not loads:
        return title + f"<p class='empty'>{esc(words('no_loads'))}</p>"
    rows = [
        [
            load.name,
            ", ".join(load.entities) or words("all"),
            _bar(load),
            f"{load.rate(now):.1f}/{words('per_second')}",
            _eta(load, words, now),
            when(load.started_at, words),
            _state(load, words),
        ]
        for load in loads
    ]
    heads = [words(k) for k in ("load", "entities", "progress", "rate", "eta", "started", "state")]
    return title + table(heads, rows, empty=words("nothing"), cls="loads")
