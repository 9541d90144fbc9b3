"""Echo suppression for online events: the portal's notices about obmen's own writes.

Every write obmen makes comes back as an online event (docs/protocols/bitrix24.md §6.2), and reading the
object again
costs requests of the portal's budget (§3) to learn nothing. `auth_connector` keeps our writes out of
the offline queue only (§6.5); online events carry no author. So the client reports each write it made,
and an online event about an object obmen wrote within the last `window` seconds is dropped.

Nothing is lost by that, because online events are only hints (§6.4: at-most-once): a change someone
else made to that object in the same window still reaches obmen through the reliable feed, the offline
queue (application mode; our writes are not in it) or the modification-time poll (webhook mode).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from obmen.connectors.base import Change
from obmen.connectors.bitrix24.crm.fields import PARTY_METHODS, counterparty_id

__all__ = ["Echoes"]

#: `crm.item.*` entity types obmen writes (docs/protocols/bitrix24.md §5.5) → the key family their events
# name.
_ITEM_TYPES = {"2": "order", "31": "invoice"}
#: Legacy method families → the kind their object is (deals are orders; parties, mapping.PARTY_METHODS).
_LEGACY = {"crm.deal": "order", **{method: kind for kind, method in PARTY_METHODS.items()}}
_CATALOG = ("catalog.product.", "catalog.price.modify")


class Echoes:
    """Objects obmen wrote lately, by the key their events will name."""

    def __init__(self, window: float = 10.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._wrote: OrderedDict[tuple[str, str], float] = OrderedDict()
        #: Online events dropped as echoes (on `/metrics`, read by the benchmark).
        self.dropped = 0

    def wrote(self, method: str, params: Mapping[str, Any], result: Any) -> None:
        """Note one successful write command (the client calls this for every one it sends)."""
        key = _key(method.lower(), params, result)
        if key is None:
            return
        now = self._clock()
        self._wrote[key] = now
        self._wrote.move_to_end(key)
        # Oldest first: trim what has left the window, so memory follows the write rate.
        while self._wrote:
            oldest, at = next(iter(self._wrote.items()))
            if now - at <= self.window:
                break
            del self._wrote[oldest]

    def drop(self, changes: Sequence[Change], *, only: Collection[str] | None = None) -> list[Change]:
        """The changes that are not echoes of obmen's own recent writes.

        `only` names the entities whose echoes may go (those a reliable feed covers); None: all.
        """
        now = self._clock()
        kept = []
        for change in changes:
            key = _family(change)
            at = self._wrote.get(key) if only is None or change.entity in only else None
            if at is not None and now - at <= self.window:
                self.dropped += 1
            else:
                kept.append(change)
        return kept


def _family(change: Change) -> tuple[str, str]:
    if change.entity in ("product", "offer"):
        # A catalog id is one product whatever type its event says (docs/protocols/bitrix24.md §5.7).
        return ("catalog", change.external_id)
    return (change.entity, change.external_id)


def _key(method: str, params: Mapping[str, Any], result: Any) -> tuple[str, str] | None:
    """The event key a write command's object will be named by, when it can be told."""
    if method.startswith("crm.item."):
        return _item_key(method, params, result)
    if method.startswith(_CATALOG):
        product = _nested(params, "fields", "product")
        owner = product.get("id") if isinstance(product, Mapping) else None
        ident = _ident(params.get("id") or owner or _item_id(result))
        return ("catalog", ident) if ident else None
    for prefix, family in _LEGACY.items():
        if method.startswith(prefix + "."):
            ident = _ident(params.get("id") or params.get("ID") or result)
            if not ident:
                return None
            if family == "order":
                return ("order", ident)
            return ("counterparty", counterparty_id(family, ident))
    return None


def _item_key(method: str, params: Mapping[str, Any], result: Any) -> tuple[str, str] | None:
    if method == "crm.item.productrow.set":
        owner = {"D": "order", "SI": "invoice"}.get(str(params.get("ownerType")))
        ident = _ident(params.get("ownerId"))
        return (owner, ident) if owner and ident else None
    family = _ITEM_TYPES.get(str(params.get("entityTypeId")))
    ident = _ident(params.get("id") or _item_id(result))
    return (family, ident) if family and ident else None


def _item_id(result: Any) -> Any:
    # crm.item.add answers {"item": {...}}, catalog.product.add {"element": {...}} (docs/protocols/bitrix24.md
    # §5.5, §5.7).
    if isinstance(result, Mapping):
        for name in ("item", "element", "offer", "sku", "product"):
            inner = result.get(name)
            if isinstance(inner, Mapping) and inner.get("id") is not None:
                return inner["id"]
        return None
    return result


def _nested(params: Mapping[str, Any], outer: str, inner: str) -> Any:
    value = params.get(outer)
    return value.get(inner) if isinstance(value, Mapping) else None


def _ident(value: Any) -> str | None:
    # Chained ids (`$result[c0][item][id]`) are not known here; the command that made the object is.
    text = str(value) if value is not None and not isinstance(value, bool) else ""
    return text if text.isdigit() else None
