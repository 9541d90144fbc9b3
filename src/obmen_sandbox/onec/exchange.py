"""One catalog run and one sale run, in the order 1C makes its calls (docs/protocols/commerceml.md §1.10).

A run either completes (the change mark of the catalog, or the upload stamps of the orders, move
forward) or raises `ExchangeError`; the caller still holds the session and so its transcript.
"""

from __future__ import annotations

import io
import secrets
import uuid
import zipfile
from datetime import datetime
from typing import Any

from obmen_sandbox.onec.client import ExchangeError, ExchangeSession, ProtocolClient
from obmen_sandbox.onec.cml import CmlError
from obmen_sandbox.onec.documents import apply_incoming, read_query_answer, today_text, write_documents
from obmen_sandbox.onec.infobase import Infobase
from obmen_sandbox.onec.writer import write_catalog

__all__ = ["run_catalog", "run_sale"]


def _archive(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


async def run_catalog(
    client: ProtocolClient, session: ExchangeSession, base: Infobase, changes_only: bool, now: datetime
) -> dict[str, Any]:
    """checkauth, init, file…, import… (repeated while `progress`), deactivate (full run), complete."""
    start = base.revision
    catalog = write_catalog(base, changes_only, base.catalog_mark, now)
    await client.open(session, base.version)
    payload = catalog.files + [(image, base.files[image]) for image in catalog.images]
    if session.zip:
        # §1.4: one archive with a 1C-made name; `import` then names the XML inside it.
        uploads = [(f"v8_{secrets.token_hex(2).upper()}_1.zip", _archive(payload))]
    else:
        uploads = [(name, data) for name, data in payload if not name.endswith(".xml")] + catalog.files
    sent = [
        {"filename": name, "bytes": len(data), "chunks": await client.upload(session, name, data)}
        for name, data in uploads
    ]
    imported = [
        {"filename": name, "calls": await client.import_file(session, name)} for name, _ in catalog.files
    ]
    deactivated = False
    if not changes_only and session.timestamp:
        # §1.6: a full run ends with `deactivate&timestamp=<checkauth line 5>`; a delta never deactivates.
        await client.call(session, "deactivate", {"timestamp": session.timestamp})
        deactivated = True
    await client.call(session, "complete")
    base.catalog_mark = start
    return {
        "kind": "catalog",
        "changes_only": changes_only,
        "products": catalog.products,
        "offers": catalog.offers,
        "images": len(catalog.images),
        "zip": session.zip,
        "file_limit": session.file_limit,
        "uploads": sent,
        "imports": imported,
        "deactivated": deactivated,
    }


async def run_sale(
    client: ProtocolClient, session: ExchangeSession, base: Infobase, version: str, now: datetime
) -> dict[str, Any]:
    """checkauth, init, query → store orders, success, then documents of orders 1C changed: file + import."""
    await client.open(session, version)
    answer = await client.query(session)
    try:
        incoming = read_query_answer(answer)
    except CmlError as exc:
        raise ExchangeError("query", str(exc)) from exc
    today = today_text(now)
    created = updated = 0
    for document in incoming:
        _, new = apply_incoming(base, document, today)
        created, updated = created + new, updated + (not new)
    await client.call(session, "success")
    pending = [order for order in base.orders.values() if order.rev > order.uploaded_rev]
    stamps = {order.site_id: order.rev for order in pending}
    uploaded: dict[str, Any] | None = None
    if pending:
        data = write_documents(base, pending, version, now)
        name = f"documents___{uuid.uuid4()}.xml"
        chunks = await client.upload(session, name, data)
        # §1.7: a site that answered `version=` to init imports on a separate call; older ones on `file`.
        calls = await client.import_file(session, name) if session.version else 0
        for order in pending:
            order.uploaded_rev = max(order.uploaded_rev, stamps[order.site_id])
        uploaded = {
            "filename": name,
            "bytes": len(data),
            "chunks": chunks,
            "import_calls": calls,
            "orders": sorted(stamps),
        }
    return {
        "kind": "sale",
        "received": len(incoming),
        "created": created,
        "updated": updated,
        "uploaded": uploaded,
        "zip": session.zip,
        "file_limit": session.file_limit,
        "site_version": session.version,
    }
