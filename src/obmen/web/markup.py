"""Markup for the dashboard: escaping, the page frame, times, money and small inline SVG charts.

Everything a remote system or a person typed is escaped on the way in; `Html` marks markup this package
built itself. No asset comes from elsewhere: the stylesheet and the script are served by obmen
(`/static/…`), and charts are inline SVG.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from obmen.web.i18n import Words

__all__ = [
    "Html",
    "age",
    "bars",
    "cell",
    "esc",
    "line_chart",
    "money",
    "page",
    "table",
    "when",
]


class Html(str):
    """Markup built by this package from escaped parts."""


def esc(value: Any) -> Html:
    """`value` as markup: `Html` as it is, anything else escaped."""
    return value if isinstance(value, Html) else Html(html.escape(str(value)))


def cell(value: Any, cls: str = "") -> Html:
    """A table cell."""
    attr = f" class='{html.escape(cls)}'" if cls else ""
    return Html(f"<td{attr}>{esc(value)}</td>")


def table(heads: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str, cls: str = "") -> Html:
    """A table with a header row; rows of plain values or `Html`; `empty` when there are none."""
    body = "".join("<tr>" + "".join(v if _is_cell(v) else cell(v) for v in row) + "</tr>" for row in rows)
    if not body:
        return Html(f"<p class='empty'>{esc(empty)}</p>")
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    attr = f" class='{html.escape(cls)}'" if cls else ""
    return Html(f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _is_cell(value: Any) -> bool:
    return isinstance(value, Html) and value.startswith("<td")


def when(at: float | None, words: Words) -> Html:
    """A date and time, with how long ago it was on hover."""
    if at is None:
        return esc("—")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    return Html(f"<time data-at='{at:.3f}'>{esc(stamp)}</time>")


def age(seconds: float, words: Words) -> str:
    """A duration as a person says it: `3 мин`, `2 ч 5 мин`, `4 д`."""
    seconds = max(0.0, seconds)
    units = (("д", "d", 86400), ("ч", "h", 3600), ("мин", "min", 60), ("с", "s", 1))
    parts: list[str] = []
    for ru, en, size in units:
        if seconds >= size or (size == 1 and not parts):
            count = int(seconds // size)
            seconds -= count * size
            parts.append(f"{count} {ru if words.lang == 'ru' else en}")
        if len(parts) == 2:
            break
    return " ".join(parts)


_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "BYN": "Br"}


def money(value: Any) -> str | None:
    """`{"amount": "15270", "currency": "RUB"}` → `15 270 ₽` (None when it is not money)."""
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        return None
    try:
        amount = Decimal(str(value["amount"]))
    except InvalidOperation:
        return None
    whole, _, cents = f"{amount:.2f}".partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    grouped = " ".join(digits[max(0, i - 3) : i] for i in range(len(digits), 0, -3)[::-1])
    text = sign + grouped + ("" if cents == "00" else f",{cents}")
    return f"{text} {_SIGNS.get(str(value['currency']), str(value['currency']))}"


def _nav(words: Words, active: str, counts: dict[str, int], query: str) -> Html:
    items = [("", "overview"), ("objects", "objects"), ("conflicts", "conflicts"), ("queue", "queue")]
    items.append(("mappings", "mappings"))
    links = []
    for path, key in items:
        badge = counts.get(key)
        # Always there when counted, hidden at zero: the script updates it as items come and go.
        hidden = "" if badge else " hidden"
        mark = f" <span class='badge' data-count='{key}'{hidden}>{badge}</span>" if badge is not None else ""
        current = " aria-current='page'" if key == active else ""
        links.append(f"<a href='{{root}}/{path}'{current}>{esc(words(key))}{mark}</a>")
    search = (
        "<form class='search' method='get' action='{root}/objects' role='search'>"
        f"<input type='search' name='q' value='{esc(query)}' placeholder='{esc(words('search_hint'))}'"
        f" aria-label='{esc(words('search'))}'><button type='submit'>{esc(words('search'))}</button></form>"
    )
    return Html("<nav>" + "".join(links) + "</nav>" + search)


def page(
    words: Words,
    *,
    root: str,
    title: str,
    active: str,
    body: str,
    counts: dict[str, int] | None = None,
    query: str = "",
    here: str = "/",
    logout: bool = False,
) -> Html:
    """A whole page: header with navigation, search and the language switch, then `body`."""
    other = "en" if words.lang == "ru" else "ru"
    switch = f"<a class='lang' href='{esc(here)}{'&' if '?' in here else '?'}{urlencode({'lang': other})}'>"
    switch += f"{other.upper()}</a>"
    out = f"<form method='post' action='{{root}}/logout'><button>{esc(words('logout'))}</button></form>"
    header = (
        "<header><a class='brand' href='{root}/'>obmen</a>"
        + _nav(words, active, counts or {}, query)
        + switch
        + (out if logout else "")
        + "</header>"
    ).replace("{root}", esc(root))
    return Html(
        f"<!doctype html><html lang='{words.lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · obmen</title><link rel='stylesheet' href='{esc(root)}/static/obmen.css'>"
        f"</head><body data-root='{esc(root)}'>{header}<main><h1>{esc(title)}</h1>{body}</main>"
        f"<script src='{esc(root)}/static/obmen.js'></script></body></html>"
    )


def _axis(values: Sequence[float | None], height: float) -> tuple[float, float]:
    top = max((v for v in values if v is not None), default=0.0) or 1.0
    return top, height / top


def bars(
    points: Sequence[tuple[str, float, float]], *, label: str, width: int = 640, height: int = 120
) -> Html:
    """A bar chart of (caption, good, bad) per bucket: bad stacked red on top of good."""
    top, scale = _axis([g + b for _, g, b in points], height - 20)
    step = width / max(1, len(points))
    parts: list[str] = []
    for i, (caption, good, bad) in enumerate(points):
        x, y_good = i * step + 1, height - 14 - good * scale
        tip = f"<title>{esc(caption)}: {good:g} / {bad:g}</title>"
        parts.append(_rect("good", x, y_good, step - 2, good * scale, tip))
        if bad:
            y_bad = y_good - bad * scale
            parts.append(_rect("bad", x, y_bad, step - 2, bad * scale, tip))
    return _svg(parts, points, label=label, top=top, width=width, height=height)


def _rect(cls: str, x: float, y: float, width: float, height: float, tip: str) -> str:
    return (
        f"<rect class='{cls}' x='{x:.1f}' y='{y:.1f}' width='{width:.1f}' height='{height:.1f}'>{tip}</rect>"
    )


def line_chart(
    points: Sequence[tuple[str, float | None, float | None]],
    *,
    label: str,
    width: int = 640,
    height: int = 120,
) -> Html:
    """A line of means with dots of maxima per bucket (a bucket with no value leaves a gap)."""
    top, scale = _axis([m for _, _, m in points], height - 20)
    step = width / max(1, len(points))
    parts: list[str] = []
    run: list[str] = []
    for i, (caption, mean, peak) in enumerate(points):
        x = i * step + step / 2
        if mean is None:
            if run:
                parts.append(f"<polyline class='mean' points='{' '.join(run)}'/>")
            run = []
            continue
        run.append(f"{x:.1f},{height - 14 - mean * scale:.1f}")
        if peak is not None:
            tip = f"<title>{esc(caption)}: {mean:.3f} / {peak:.3f}</title>"
            y = height - 14 - peak * scale
            parts.append(f"<circle class='peak' cx='{x:.1f}' cy='{y:.1f}' r='2.5'>{tip}</circle>")
    if run:
        parts.append(f"<polyline class='mean' points='{' '.join(run)}'/>")
    return _svg(parts, points, label=label, top=top, width=width, height=height)


def _svg(
    parts: list[str], points: Sequence[tuple[Any, ...]], *, label: str, top: float, width: int, height: int
) -> Html:
    first = esc(points[0][0]) if points else ""
    last = esc(points[-1][0]) if points else ""
    return Html(
        f"<svg class='chart' viewBox='0 0 {width} {height}' role='img' aria-label='{esc(label)}'>"
        f"<line class='axis' x1='0' y1='{height - 14}' x2='{width}' y2='{height - 14}'/>"
        f"<text x='2' y='10'>{top:g}</text><text x='2' y='{height - 2}'>{first}</text>"
        f"<text x='{width - 2}' y='{height - 2}' text-anchor='end'>{last}</text>{''.join(parts)}</svg>"
    )
