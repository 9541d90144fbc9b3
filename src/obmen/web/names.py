"""Objects by their human names: "Заказ №132 · Анна Смирнова · 15 270 ₽", product and contact names.

Names come from the store's summaries (`store/objects.py`); field values are shown the way a person reads
them: money with its sign, references as the named object they point to, order lines as
"name × quantity · price".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from obmen.store.objects import refs_in
from obmen.web.i18n import Words
from obmen.web.markup import Html, esc, money

__all__ = ["Summaries", "entity_name", "field_name", "href", "label", "link", "refs_of", "show"]

Summaries = Mapping[tuple[str, str], Mapping[str, Any]]


def field_name(words: Words, name: str) -> str:
    """A field's name in the page's language (the canonical name when it has none)."""
    return words(f"f.{name}", name)


def entity_name(words: Words, entity: str) -> str:
    """An entity type's name in the page's language."""
    return words(f"entity.{entity}", entity)


def href(root: str, entity: str, key: str) -> str:
    """The object page of (entity, canonical id or `system:id`)."""
    return f"{root}/objects/{quote(entity, safe='')}/{quote(key, safe=':')}"


def label(entity: str, key: str, summary: Mapping[str, Any] | None, words: Words) -> str:
    """The object's human name; its ids when the store knows no name."""
    kind = words(f"entity.{entity}", entity)
    s = summary or {}
    if entity == "order":
        parts = [f"{kind} №{s['number']}" if s.get("number") else kind]
        parts += [str(s["customer_name"])] if s.get("customer_name") else []
        total = money(s.get("total"))
        parts += [total] if total else []
        return " · ".join(parts) if len(parts) > 1 or s.get("number") else f"{kind} {_ids(key, s)}"
    if entity in ("counterparty", "lead"):
        name = s.get("name") or s.get("title")
        contact = [*(s.get("phones") or ()), *(s.get("emails") or ())][:1]
        if name:
            return " · ".join([str(name), *map(str, contact)])
    if entity in ("offer", "product") and s.get("name"):
        article = f" · {s['article']}" if s.get("article") else ""
        return f"{s['name']}{article}"
    if s.get("name") or s.get("title"):
        return str(s.get("name") or s.get("title"))
    return f"{kind} {_ids(key, s)}"


def _ids(key: str, summary: Mapping[str, Any]) -> str:
    found = summary.get("links") or {}
    if found:
        return " · ".join(f"{s}:{x}" for s, x in sorted(found.items()))
    return key[:12]


def link(root: str, entity: str, key: str, summaries: Summaries, words: Words) -> Html:
    """A link to the object page, named."""
    text = label(entity, key, summaries.get((entity, key)), words)
    return Html(f"<a href='{esc(href(root, entity, key))}'>{esc(text)}</a>")


def refs_of(values: Iterable[Any]) -> set[tuple[str, str]]:
    """Every (entity, canonical id) the values refer to."""
    return {ref for value in values for ref in refs_in(value)}


def show(value: Any, summaries: Summaries, words: Words, root: str) -> Html:
    """A field value as a person reads it."""
    if value is None or value == [] or value == "":
        return esc("—")
    if isinstance(value, bool):
        return esc(words("yes") if value else words("no"))
    amount = money(value)
    if amount is not None:
        return esc(amount)
    if isinstance(value, dict) and set(value) == {"$ref", "id"}:
        return link(root, str(value["$ref"]), str(value["id"]), summaries, words)
    if isinstance(value, list):
        items = [
            _line(v, summaries, words, root) if _is_line(v) else show(v, summaries, words, root)
            for v in value
        ]
        return Html("<br>".join(items))
    if isinstance(value, dict):
        shown = [
            f"{esc(field_name(words, k))}: {show(v, summaries, words, root)}"
            for k, v in sorted(value.items())
            if v is not None
        ]
        return Html("; ".join(shown))
    return esc(value)


def _is_line(value: Any) -> bool:
    return isinstance(value, dict) and {"name", "quantity", "price"} <= set(value)


def _line(value: Mapping[str, Any], summaries: Summaries, words: Words, root: str) -> Html:
    """An order line: the offer's name (linked when known) × quantity · price."""
    offer = value.get("offer")
    name: Html = esc(value["name"])
    if isinstance(offer, dict) and (str(offer.get("$ref")), str(offer.get("id"))) in summaries:
        name = Html(f"<a href='{esc(href(root, str(offer['$ref']), str(offer['id'])))}'>{name}</a>")
    price = money(value.get("price")) or ""
    return Html(f"{name} × {esc(value['quantity'])} · {esc(price)}")
