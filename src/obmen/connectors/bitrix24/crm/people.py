"""Users (read-only: managers are made in the portal) and leads (legacy `crm.lead.*`).

Users come from `user.get` (docs/protocols/bitrix24.md §5.6: `FILTER` with the usual prefixes, sorted by ID,
bots and
e-mail users left out). Leads use the legacy methods because their PHONE/EMAIL update semantics are the
documented ones (§5.4, the same as contacts); creates carry `ORIGINATOR_ID`/`ORIGIN_ID` (§5.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from obmen.connectors.base import Create, MatchKey, Remote, ScanPage, WriteOp, WriteResult
from obmen.connectors.bitrix24.client.rest import BATCH_LIMIT, PAGE, Bitrix24Client, Call
from obmen.connectors.bitrix24.crm.fields import ORIGINATOR, multi_update, multi_values
from obmen.errors import ObmenError, ProtocolError
from obmen.model.normalize import normalize_email, normalize_phone

__all__ = ["PEOPLE_CARRIED", "People"]

PEOPLE_CARRIED: Mapping[str, frozenset[str]] = {
    "user": frozenset({"name", "email", "active"}),
    "lead": frozenset({"title", "name", "phones", "emails", "comment", "source"}),
}
_LEAD_SELECT = [
    "ID",
    "TITLE",
    "NAME",
    "PHONE",
    "EMAIL",
    "COMMENTS",
    "SOURCE_ID",
    "ORIGINATOR_ID",
    "ORIGIN_ID",
]


def user_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical user fields of a `user.get` row."""
    name = " ".join(str(row[k]) for k in ("NAME", "LAST_NAME") if row.get(k))
    active = row.get("ACTIVE")
    return {
        "name": name,
        "email": normalize_email(str(row.get("EMAIL") or "")),
        "active": active in (True, "Y", "true", "1", 1),
    }


def lead_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical lead fields of a legacy lead row."""
    return {
        "title": str(row.get("TITLE") or ""),
        "name": row.get("NAME") or None,
        "phones": multi_values(row.get("PHONE"), normalize_phone),
        "emails": multi_values(row.get("EMAIL"), normalize_email),
        "comment": row.get("COMMENTS") or None,
        "source": row.get("SOURCE_ID") or None,
    }


def lead_payload(fields: Mapping[str, Any], current: Mapping[str, Any], origin: str | None) -> dict[str, Any]:
    """Legacy lead `fields` for what `fields` holds (multi-fields as DELETE/append operations)."""
    names = {"title": "TITLE", "name": "NAME", "comment": "COMMENTS", "source": "SOURCE_ID"}
    out: dict[str, Any] = {crm: fields[key] or "" for key, crm in names.items() if key in fields}
    for key, crm, normalize in (("phones", "PHONE", normalize_phone), ("emails", "EMAIL", normalize_email)):
        if key in fields:
            out[crm] = multi_update(fields[key] or [], current.get(crm) or [], normalize)
    if origin is not None:
        out.update({"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": origin})
    return out


class People:
    """Users and leads of one portal."""

    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> dict[str, Remote]:
        """Users or leads by id."""
        ids = [x for x in external_ids if str(x).isdigit()]
        if not ids:
            return {}
        if entity == "user":
            rows = await self._pages(
                "user.get", [{"FILTER": {"@ID": ids[i : i + PAGE]}} for i in range(0, len(ids), PAGE)]
            )
            return {str(r["ID"]): Remote("user", str(r["ID"]), user_fields(r)) for r in rows}
        return await self._leads({"@ID": ids})

    async def _leads(self, flt: Mapping[str, Any]) -> dict[str, Remote]:
        (key, values), *rest = flt.items()
        base = dict(rest)
        params = [
            {"filter": {**base, key: values[i : i + PAGE]}, "select": _LEAD_SELECT, "start": -1}
            for i in range(0, len(values), PAGE)
        ]
        out: dict[str, Remote] = {}
        for row in await self._pages("crm.lead.list", params):
            origin = row.get("ORIGIN_ID") if row.get("ORIGINATOR_ID") == ORIGINATOR else None
            out[str(row["ID"])] = Remote("lead", str(row["ID"]), lead_fields(row), None, origin or None)
        return out

    async def _pages(self, method: str, params: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        for result in await self.client.call_many([(method, p) for p in params]):
            if isinstance(result, ObmenError):
                raise result
            if not isinstance(result, list):
                raise ProtocolError(f"{method} answered {type(result).__name__}, not a list")
            rows.extend(result)
        return rows

    async def find_by_origin(self, entity: str, canonical_ids: Sequence[str]) -> dict[str, Remote]:
        """Leads stamped by an obmen create (users are never created)."""
        if entity != "lead" or not canonical_ids:
            return {}
        found = await self._leads({"@ORIGIN_ID": list(canonical_ids), "=ORIGINATOR_ID": ORIGINATOR})
        return {r.origin: r for r in found.values() if r.origin is not None}

    async def match(self, entity: str, keys: Sequence[MatchKey]) -> dict[MatchKey, str]:
        """Users by e-mail; leads by phone or e-mail (`crm.duplicate.findbycomm`, §5.4)."""
        if entity == "user":
            emails = [v for k, v in keys if k == "email"]
            if not emails:
                return {}
            rows = await self._pages(
                "user.get",
                [{"FILTER": {"@EMAIL": emails[i : i + PAGE]}} for i in range(0, len(emails), PAGE)],
            )
            by_email = {normalize_email(str(r.get("EMAIL") or "")): str(r["ID"]) for r in rows}
            return {("email", e): by_email[e] for e in emails if e in by_email}
        comm = [(k, v) for k, v in keys if k in ("phones", "emails")]
        calls: list[Call] = [
            (
                "crm.duplicate.findbycomm",
                {"type": "PHONE" if k == "phones" else "EMAIL", "values": [v], "entity_type": "LEAD"},
            )
            for k, v in comm
        ]
        out: dict[MatchKey, str] = {}
        for key, result in zip(comm, await self.client.call_many(calls), strict=True):
            if isinstance(result, Mapping) and result.get("LEAD"):
                out[key] = str(min(int(x) for x in result["LEAD"]))
        return out

    async def write(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Create or update leads; users are read-only."""
        current = await self.fetch_rows(
            [op.external_id for op in ops if op.entity == "lead" and not isinstance(op, Create)]
        )
        results: list[WriteResult] = []
        named: dict[str, tuple[WriteOp, Call]] = {}
        for index, op in enumerate(ops):
            if op.entity != "lead":
                results.append(
                    WriteResult(
                        op,
                        error=ProtocolError("Bitrix24 users are made in the portal; obmen only reads them"),
                    )
                )
                continue
            if isinstance(op, Create):
                named[f"l{index}"] = (
                    op,
                    ("crm.lead.add", {"fields": lead_payload(op.fields, {}, op.canonical_id)}),
                )
            else:
                payload = lead_payload(op.fields, current.get(op.external_id, {}), None)
                named[f"l{index}"] = (op, ("crm.lead.update", {"id": int(op.external_id), "fields": payload}))
        names = list(named)
        for start in range(0, len(names), BATCH_LIMIT):
            part = names[start : start + BATCH_LIMIT]
            try:
                reply = await self.client.batch({n: named[n][1] for n in part})
            except ObmenError as exc:
                results.extend(WriteResult(named[n][0], error=exc) for n in part)
                continue
            for n in part:
                op = named[n][0]
                if n in reply.errors:
                    results.append(WriteResult(op, error=reply.errors[n]))
                else:
                    ident = op.external_id if not isinstance(op, Create) else str(reply.results.get(n))
                    results.append(WriteResult(op, external_id=ident))
        order = {id(op): i for i, op in enumerate(ops)}
        return sorted(results, key=lambda r: order[id(r.op)])

    async def fetch_rows(self, ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """Current legacy lead rows (multi-field updates need the item ids, §5.4)."""
        params = [
            {"filter": {"@ID": list(ids[i : i + PAGE])}, "select": _LEAD_SELECT, "start": -1}
            for i in range(0, len(ids), PAGE)
        ]
        return {str(r["ID"]): r for r in await self._pages("crm.lead.list", params)} if ids else {}

    async def scan(self, entity: str, cursor: str | None, limit: int) -> ScanPage:
        """Every user or lead id, keyset on ID (§2.4)."""
        last = int(cursor or 0)
        if entity == "user":
            reply = await self.client.call(
                "user.get", {"FILTER": {">ID": last}, "sort": "ID", "order": "ASC", "start": -1}
            )
        else:
            params = {"filter": {">ID": last}, "order": {"ID": "ASC"}, "select": ["ID"], "start": -1}
            reply = await self.client.call("crm.lead.list", params)
        ids = [str(row["ID"]) for row in reply.result or []]
        return ScanPage(ids, ids[-1] if len(ids) == PAGE else None)
