"""The `[mapping]` tables beside what the systems really have, as `obmen check` last read it
(obmen.store.facts): each mapped entry marked found or missing, and what a system has that no row maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from obmen.store.facts import Facts
from obmen.web.i18n import Words
from obmen.web.markup import Html, esc, table

__all__ = ["Known", "beside"]

#: Systems whose facts are the values their objects have had (the site's order statuses), not a list the
#: system keeps: a value not among them is marked unseen, not missing.
SEEN_ONLY = frozenset({"site"})

#: What a system's facts hold: ids with their names, or values (a list).
Values = Mapping[str, str] | set[str] | list[str] | None
#: What a mapping row names a value by (`lookup`).
By = Literal["id", "name", "either"]


class Known:
    """The facts of every system, and marks for the cells that name a system's values."""

    def __init__(self, facts: Mapping[str, Facts], words: Words) -> None:
        self.facts, self.words = facts, words

    def of(self, system: str, key: str) -> Any:
        """One part of a system's facts, None when it was not read."""
        found = self.facts.get(system)
        return None if found is None else found.data.get(key)

    def mark(self, value: str, names: Values, where: str, *, by: By = "id") -> Html:
        """✔ with the system's name for `value`, ✘ when `where` lacks it (– when its objects have not used it
        yet, `SEEN_ONLY`), ? when it was not read. `by` says what `value` is matched with (`lookup`)."""
        if names is None:
            return Html(f"<td class='unknown' title='{esc(self.words('not_read'))}'>?</td>")
        name = lookup(value, names, by)
        if name is None and where in SEEN_ONLY:
            # Values seen in a system's objects, not its full list: not seen is no proof of absence.
            return Html(f"<td class='unseen'>– {esc(self.words(f'unseen.{where}'))}</td>")
        if name is None:
            return Html(
                f"<td class='missing'>✘ {esc(self.words('missing_in'))} {esc(self.words(where))}</td>"
            )
        return Html(f"<td class='found'>✔ {esc(name)}</td>")

    def unmapped(self, values: Values, used: set[str], *, by: By = "id") -> Html:
        """The values a system has that no row of the table names (by their id, name, or `either`)."""
        if values is None:
            return Html("")
        named = values if isinstance(values, Mapping) else dict.fromkeys(values, "")
        left = [k for k in sorted(named) if not _matched_by(k, named[k], by) & used]
        if not left:
            return Html("")
        label = self.words("unmapped")
        shown = [_shown(k, named[k], by) for k in left]
        return Html(f"<p class='unmapped'><b>{esc(label)}:</b> {esc(', '.join(shown))}</p>")


def lookup(value: str, names: Mapping[str, str] | set[str] | list[str], by: By) -> str | None:
    """The name shown for `value` when the system has it, else None.

    A system's facts are its ids with their names (stages, users, 1C's warehouses) or a list of values
    (the site's statuses; 1C's names, as kept before their ids were). `by` is what a mapping row names:
    the id (`id`), the name (`name`: 1C's price type, matched by name, onec/connector.py) or either
    (`either`: 1C's warehouses by `Ид` or name, onec/stores.py).
    """
    if not isinstance(names, Mapping):
        return "" if value in names else None
    if by != "name" and value in names:
        return names[value] if by == "id" else names[value] or value
    if by != "id" and value in names.values():
        return value
    return None


def _matched_by(key: str, name: str, by: By) -> set[str]:
    """What a mapping row may name to map this value."""
    if by == "id" or not name:
        return {key}
    return {name} if by == "name" else {key, name}


def _shown(key: str, name: str, by: By) -> str:
    if by == "id":
        return f"{key} · {name}" if name else key
    return name or key


def _stage_id(stage: str, category: int) -> str:
    # A stage named without its pipeline's prefix is the pipeline's own (docs/protocols/bitrix24.md §5.3).
    return stage if ":" in stage or not category else f"C{category}:{stage}"


def pipeline(name: str, pipe: Mapping[str, Any], known: Known) -> str:
    """One pipeline's two tables, each stage checked against the portal's stages of that pipeline."""
    w = known.words
    pipes = known.of("bitrix24", "pipelines")
    category = int(pipe.get("category_id") or 0)
    real = None if pipes is None else (pipes.get(str(category)) or {}).get("stages")
    if pipes is not None and str(category) not in pipes:
        real = {}
    statuses = known.of("site", "statuses")
    fallback, status = str(pipe.get("fallback_stage") or ""), str(pipe.get("fallback_status") or "")
    found: list[list[Any]] = [
        ["category_id", category, known.mark(str(category), _names(pipes), "bitrix24")],
        ["fallback_stage", fallback, known.mark(_stage_id(fallback, category), real, "bitrix24")],
        ["fallback_status", status, known.mark(status, statuses, "site")],
    ]
    head = f"<h3>{esc(name)}</h3>" + table([w("field"), w("value"), w("found")], found, empty="")
    there = [
        [
            status,
            known.mark(status, statuses, "site"),
            stage,
            known.mark(_stage_id(stage, category), real, "bitrix24"),
        ]
        for status, stage in pipe["status_to_stage"].items()
    ]
    back = [
        [stage, known.mark(_stage_id(stage, category), real, "bitrix24"), status or "—"]
        for stage, status in pipe["stage_to_status"].items()
    ]
    used = {_stage_id(s, category) for s in [*pipe["status_to_stage"].values(), *pipe["stage_to_status"]]}
    used.add(_stage_id(fallback, category))
    return (
        head
        + table([w("site_status"), w("site"), w("deal_stage"), w("bitrix24")], there, empty=w("nothing"))
        + table([w("deal_stage"), w("bitrix24"), w("site_status")], back, empty=w("nothing"))
        + known.unmapped(real, used)
    )


def _names(pipes: Mapping[str, Any] | None) -> dict[str, str] | None:
    return None if pipes is None else {k: str(v.get("name") or "") for k, v in pipes.items()}


def invoice(stages: Mapping[str, Any], known: Known) -> str:
    """The unpaid, paid and cancelled stages in the portal's invoice pipeline (§5.5)."""
    w = known.words
    pipes = known.of("bitrix24", "invoice_pipelines")
    category = int(stages.get("category_id") or 0)
    if not category and pipes:
        category = int(next((k for k, v in pipes.items() if v.get("default")), "0"))
    real = None if pipes is None else (pipes.get(str(category)) or {}).get("stages", {})
    rows = [
        [key, stages[key], known.mark(f"DT31_{category}:{stages[key]}", real, "bitrix24")]
        for key in ("unpaid", "paid", "cancelled")
    ]
    return table([w("field"), w("value"), w("bitrix24")], rows, empty=w("nothing"))


def _pairs(
    value: Mapping[str, Any],
    known: Known,
    *,
    key_in: tuple[str, str] | None,
    value_in: tuple[str, str] | None,
) -> str:
    """A flat table, its keys and/or values checked against one system's facts (system, facts key)."""
    w = known.words
    heads, rows = [w("field"), w("value")], []
    keys = None if key_in is None else known.of(*key_in)
    values = None if value_in is None else known.of(*value_in)
    for k, v in value.items():
        row: list[Any] = [str(k)]
        if key_in is not None:
            row.append(known.mark(str(k), keys, key_in[0], by=BY.get(key_in, "id")))
        row.append(", ".join(map(str, v)) if isinstance(v, list) else str(v))
        if value_in is not None:
            row.append(known.mark(str(v), values, value_in[0], by=BY.get(value_in, "id")))
        rows.append(row)
    if key_in is not None:
        heads.insert(1, w(key_in[0]))
    if value_in is not None:
        heads.append(w(value_in[0]))
    out: str = table(heads, rows, empty=w("nothing"))
    if key_in is not None:
        out += known.unmapped(keys, {str(k) for k in value}, by=BY.get(key_in, "id"))
    return out


#: What a mapping row names each system's facts by, where not by id: 1C's warehouses by `Ид` or name
#: (onec/stores.py), its price type by name (onec/connector.py).
BY: Mapping[tuple[str, str], By] = {("onec", "warehouses"): "either", ("onec", "price_types"): "name"}

#: Which system's facts each flat table's keys and values are checked against.
CHECKED: Mapping[str, tuple[tuple[str, str] | None, tuple[str, str] | None]] = {
    "warehouses": (("onec", "warehouses"), ("bitrix24", "stores")),
    "managers": (("bitrix24", "users"), None),
    "order_properties": (None, ("bitrix24", "deal_fields")),
    "onec_statuses": (None, ("site", "statuses")),
    "sites": (None, None),
}


def beside(key: str, value: Mapping[str, Any], known: Known) -> str:
    """One flat `[mapping]` table, checked where a system's facts tell."""
    key_in, value_in = CHECKED.get(key, (None, None))
    return _pairs(value, known, key_in=key_in, value_in=value_in)


def scalars(values: Mapping[str, Any], known: Known) -> str:
    """The scalar settings; the price type checked against 1C's last upload."""
    w = known.words
    prices = known.of("onec", "price_types")
    rows = [
        [k, str(v), known.mark(str(v), prices, "onec", by="name") if k == "price_type" else Html("<td></td>")]
        for k, v in values.items()
    ]
    return table([w("field"), w("value"), w("onec")], rows, empty=w("nothing")) + (
        known.unmapped(prices, {str(values.get("price_type"))}, by="name") if "price_type" in values else ""
    )
