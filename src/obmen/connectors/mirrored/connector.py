"""A pull-only partner as a connector: reads come from its mirror, writes go to its outbox.

1C uploads when it wants and collects documents when it polls (docs/architecture.md §2.7), so the engine
cannot call it. What it last uploaded is the *mirror*; what obmen wrote for it waits in the *outbox*.
Until the partner uploads the object again, a queued write *is* its state as far as the merge is
concerned: otherwise the old mirrored value would look like a change back and undo our own write.

Persistence is the store's; this module only declares the port it needs (connectors and the store
are independent layers, docs/architecture.md §3) and the wiring passes the store's implementation in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from obmen.connectors.base import (
    Capabilities,
    ChangePage,
    Create,
    MatchKey,
    Remote,
    ScanPage,
    WriteOp,
    WriteResult,
)
from obmen.errors import ObmenError, PermanentError

__all__ = ["RESTORE", "MirrorPort", "Mirrored", "Snapshot"]

#: Why an order's cancellation is not taken back through an exchange (the start of the parked reason):
#: neither the site's loader nor 1C's reads a document that un-cancels (docs/protocols/commerceml.md §2.7).
RESTORE = "a CommerceML exchange does not restore a cancelled order"


class Snapshot(Protocol):
    """One object as the port reports it: mirrored fields overlaid with any newer queued write."""

    @property
    def fields(self) -> Mapping[str, Any]: ...

    @property
    def origin(self) -> str | None: ...

    @property
    def modified_at(self) -> float: ...

    @property
    def contested(self) -> Mapping[str, tuple[Any, Any]]: ...


class MirrorPort(Protocol):
    """What a mirrored connector needs from storage, for one partner system."""

    async def snapshots(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Snapshot]:
        """Live objects by id, with queued writes newer than the last upload applied."""
        ...

    async def origins(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, tuple[str, Snapshot]]:
        """Objects created for these canonical ids: canonical id → (external id, snapshot)."""
        ...

    async def ids(self, entity: str, after: str | None, limit: int) -> Sequence[str]:
        """Live ids in order, after `after`."""
        ...

    async def queue(
        self,
        entity: str,
        documents: Mapping[str, Mapping[str, Any]],
        changed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Queue documents (full field maps, by external id) for the partner to collect.

        `changed` gives the fields obmen changed in a document with the values they replaced; a document
        not named is all obmen's.
        """
        ...


class Mirrored:
    """The connector of a pull-only partner."""

    def __init__(
        self, system: str, port: MirrorPort, *, fields: Mapping[str, frozenset[str]], creates: frozenset[str]
    ) -> None:
        self.system = system
        self.port = port
        # No push, no feed: the upload endpoint enqueues the keys that changed (docs/architecture.md §2.1).
        self.capabilities = Capabilities(
            fields=fields, creates=creates, batch_size=500, push=True, poll=False
        )

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects as the partner holds them, or will once it collects our documents."""
        found = await self.port.snapshots(entity, external_ids)
        return {
            x: Remote(entity, x, dict(s.fields), s.modified_at, s.origin, contested=s.contested)
            for x, s in found.items()
        }

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects created for these canonical ids (uploaded back or still queued)."""
        found = await self.port.origins(entity, canonical_ids)
        return {cid: Remote(entity, x, dict(s.fields), s.modified_at, cid) for cid, (x, s) in found.items()}

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> Mapping[MatchKey, str]:
        """An `Ид` is the partner's id itself: an `xml_id` key names the object directly."""
        wanted = [value for name, value in keys if name == "xml_id"]
        found = await self.port.snapshots(entity, wanted) if wanted else {}
        return {("xml_id", x): x for x in found}

    async def write(self, ops: Sequence[WriteOp]) -> Sequence[WriteResult]:
        """Queue full documents; a create's document carries the canonical id as its `Ид`.

        An update that would restore an order the partner holds as cancelled is refused with the reason
        (`RESTORE`), parked for a person: a document would not restore it, and the difference is shown.
        """
        results = await self._restores(ops)
        refused = {id(r.op) for r in results}
        by_entity: dict[str, list[WriteOp]] = {}
        for op in ops:
            if id(op) not in refused:
                by_entity.setdefault(op.entity, []).append(op)
        for entity, group in by_entity.items():
            results += await self._write_entity(entity, group)
        order = {id(op): i for i, op in enumerate(ops)}
        return sorted(results, key=lambda r: order[id(r.op)])

    async def _restores(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """The refusals of updates that un-cancel an order the partner holds as cancelled."""
        wanted = [
            op
            for op in ops
            if op.entity == "order" and not isinstance(op, Create) and op.fields.get("cancelled") is False
        ]
        held = await self.port.snapshots("order", [op.external_id for op in wanted]) if wanted else {}
        out: list[WriteResult] = []
        for op in wanted:
            snap = held.get(op.external_id)
            if snap is not None and snap.fields.get("cancelled") is True:
                why = f"{RESTORE}: order {op.external_id} (restore it in {self.system} by hand)"
                out.append(WriteResult(op, error=PermanentError(why)))
        return out

    async def _write_entity(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        updates = [op.external_id for op in ops if not isinstance(op, Create)]
        current = await self.port.snapshots(entity, updates) if updates else {}
        documents: dict[str, dict[str, Any]] = {}
        changed: dict[str, dict[str, Any]] = {}
        whole: set[str] = set()
        results: list[WriteResult] = []
        for op in ops:
            if isinstance(op, Create):
                # 1C takes the site's order id as `Ид` (docs/protocols/commerceml.md §2.6): ours is the
                # canonical id.
                external_id = op.canonical_id
                documents[external_id] = dict(op.fields)
                whole.add(external_id)
            elif op.external_id in current:
                external_id = op.external_id
                snap = current[external_id]
                # The partner collects whole documents, not field patches (docs/protocols/commerceml.md §2.6).
                documents[external_id] = {**snap.fields, **documents.get(external_id, {}), **op.fields}
                # Only these are obmen's; the rest is rebuilt on the partner's latest upload (mirror.py).
                before = changed.setdefault(external_id, {})
                before.update({k: snap.fields.get(k) for k in op.fields if k not in before})
            else:
                results.append(
                    WriteResult(op, error=PermanentError(f"{entity} {op.external_id} is not in the mirror"))
                )
                continue
            results.append(WriteResult(op, external_id=external_id))
        try:
            await self.port.queue(entity, documents, {x: f for x, f in changed.items() if x not in whole})
        except ObmenError as exc:
            return [WriteResult(r.op, error=exc) for r in results]
        return results

    async def changes(self, cursor: str | None, limit: int) -> ChangePage:
        """Nothing to poll: uploads enqueue their own keys."""
        return ChangePage((), cursor)

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every live mirrored id, a page at a time."""
        ids = list(await self.port.ids(entity, cursor, limit))
        return ScanPage(ids, ids[-1] if len(ids) == limit else None)
