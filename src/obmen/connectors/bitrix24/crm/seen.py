"""What obmen last saw of each deal: read in a reconcile or answered by its own write, for a short while.

An order update needs the deal's pipeline (its stages), its smart invoice (id, pipeline, stage) and, to
leave unchanged rows alone, the rows as they stand. The reconciler reads every side just before it plans
(docs/architecture.md §2.1), and every `crm.item.add|update` and `productrow.set` answers the object as
stored, so reading them again before the write only spends the portal's budget (§2.6). A record is
trusted for `fresh_for` seconds and forgotten as soon as a change of its order is heard (an event the
echo filter kept, the offline queue, the modification-time poll); past that the write reads again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SeenOrder", "SeenOrders", "same_rows"]


@dataclass(frozen=True, slots=True)
class SeenOrder:
    """One deal as last seen: the deal item, its invoice (None: it had none) and its product rows."""

    deal: Mapping[str, Any]
    invoice: Mapping[str, Any] | None
    #: `crm.item.productrow` rows as the portal holds them (None: not known).
    rows: Sequence[Mapping[str, Any]] | None
    #: The canonical goods and delivery of the order the rows stand for (None: not known).
    lines: Any
    delivery: Any
    at: float


class SeenOrders:
    """Deal id → what obmen last saw of it, trusted while younger than `fresh_for` seconds."""

    #: Records kept at most: the oldest go first (a batch of writes needs only its own).
    KEEP = 5_000

    def __init__(self, fresh_for: float = 30.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh_for = fresh_for
        self._clock = clock
        self._seen: OrderedDict[str, SeenOrder] = OrderedDict()

    def put(
        self,
        deal_id: str,
        *,
        deal: Mapping[str, Any],
        invoice: Mapping[str, Any] | None,
        rows: Sequence[Mapping[str, Any]] | None,
        lines: Any = None,
        delivery: Any = None,
    ) -> None:
        """Remember a deal as it was just read or written."""
        if self.fresh_for <= 0:
            return
        now = self._clock()
        record = SeenOrder(
            _kept(deal, _DEAL),
            None if invoice is None else _kept(invoice, _INVOICE),
            None if rows is None else [_kept(row, _ROW) for row in rows],
            lines,
            delivery,
            now,
        )
        self._seen[deal_id] = record
        self._seen.move_to_end(deal_id)
        # Oldest first: what has aged out goes, so memory follows the write rate.
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if len(self._seen) <= self.KEEP and now - oldest.at <= self.fresh_for:
                break
            self._seen.popitem(last=False)

    def fresh(self, deal_id: str) -> SeenOrder | None:
        """The record of a deal if it is young enough to write from, else None (and it is dropped)."""
        record = self._seen.get(deal_id)
        if record is None:
            return None
        if self._clock() - record.at > self.fresh_for:
            del self._seen[deal_id]
            return None
        return record

    def wrote(
        self,
        deal_id: str,
        *,
        deal: Mapping[str, Any] | None,
        invoice: Mapping[str, Any] | None,
        rows: Sequence[Mapping[str, Any]] | None,
        fields: Mapping[str, Any],
    ) -> None:
        """Fold a successful write's answers into the record; parts it did not touch keep theirs.

        A part neither written nor known (an update of a deal never seen) leaves no record.
        """
        before = self.fresh(deal_id)
        deal = deal if deal is not None else (before.deal if before else None)
        invoice = invoice if invoice is not None else (before.invoice if before else None)
        if deal is None or invoice is None:
            self.forget([deal_id])
            return
        if rows is not None:
            lines, delivery = fields.get("lines"), fields.get("delivery")
        elif before is not None:
            rows, lines, delivery = before.rows, before.lines, before.delivery
        else:
            lines = delivery = None
        self.put(deal_id, deal=deal, invoice=invoice, rows=rows, lines=lines, delivery=delivery)

    def forget(self, deal_ids: Iterable[str]) -> None:
        """Drop the records of deals that changed (or may have) since they were seen."""
        for deal_id in deal_ids:
            self._seen.pop(deal_id, None)


#: What a plan and the row comparison read of each part (writes.py); the rest of an answer is not kept.
_DEAL = ("id", "categoryId", "stageId")
_INVOICE = ("id", "parentId2", "categoryId", "stageId", "stageSemanticId")
_ROW = (
    "id",
    "productId",
    "productName",
    "price",
    "quantity",
    "discountTypeId",
    "discountSum",
    "taxRate",
    "taxIncluded",
    "sort",
)


def _kept(item: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: item[k] for k in keys if k in item}


#: Row keys whose values are numbers on the wire, compared as numbers.
_NUMERIC = frozenset({"productId", "price", "quantity", "discountTypeId", "discountSum", "taxRate", "sort"})


def same_rows(sent: Sequence[Mapping[str, Any]], stored: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether `productrow.set` with `sent` would leave `stored` as it is (unknown rows never are).

    Compared on the members obmen sends; the portal's own (ids, computed sums) do not count.
    """
    if stored is None or len(sent) != len(stored):
        return False
    ordered = sorted(stored, key=lambda r: (_number(r.get("sort")) or 0.0, _number(r.get("id")) or 0.0))
    return all(_same_row(a, b) for a, b in zip(sent, ordered, strict=True))


def _same_row(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    for key, value in sent.items():
        if key not in stored:
            return False
        have = stored[key]
        if key in _NUMERIC:
            if _number(value) != _number(have):
                return False
        elif str(value if value is not None else "") != str(have if have is not None else ""):
            return False
    return True


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return round(float(value), 4)
    except (TypeError, ValueError):
        return None
