"""`obmen check` for 1C: 1C calls obmen, never the reverse (docs/architecture.md §2.7), so what can be
checked is what its uploads left: when it last called and how that went, and whether the price type and
the warehouses named in `[mapping]` are among those its last catalog upload declared
(docs/protocols/commerceml.md §2.4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from obmen.connectors.base import Check, Survey
from obmen.connectors.mirrored.facts import named
from obmen.store import state
from obmen.store.database import Database
from obmen.store.mirror import MirrorStore

__all__ = ["onec_checks", "uploaded"]

SYSTEM = "onec"


async def uploaded(mirror: MirrorStore) -> dict[str, Any]:
    """1C's facts: the price types and warehouses its uploads declared, each by `Ид` with its name (a
    `[mapping] warehouses` row may name a warehouse by either, onec/stores.py)."""
    return {"price_types": await named(mirror, "price_type"), "warehouses": await named(mirror, "warehouse")}


async def onec_checks(
    db: Database,
    mirror: MirrorStore,
    *,
    tenant: str,
    endpoint: str,
    login: str,
    price_type: str,
    warehouses: Mapping[str, int],
    clock: Callable[[], float] = time.time,
) -> Survey:
    """When 1C last called, and the mapped price type and warehouses in its last upload (read once, kept
    as 1C's facts)."""
    async with db.begin() as conn:
        notes = await state.cursors_under(conn, tenant, f"{SYSTEM}:")
    facts = await uploaded(mirror)
    if not notes:
        fix = (
            f"in 1C, set the exchange with the site to {endpoint} with the login {login!r} and the password "
            "of onec.password, then run it / в 1С укажите этот адрес обмена с сайтом и запустите обмен"
        )
        never = Check(SYSTEM, "last call / последний обмен", False, "1C has never called obmen", fix)
        return Survey([never], facts)
    source, (text, at) = max(notes.items(), key=lambda item: item[1][1])
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    failed = str(text or "").startswith("failed")
    found = [
        Check(
            SYSTEM,
            "last call / последний обмен",
            not failed,
            f"{when} ({_age(clock() - at)} ago), {source.split(':', 1)[1]}: {text}",
            "see the reason; 1C repeats the exchange on its schedule / см. причину, 1С повторит обмен",
        )
    ]
    prices = set(facts["price_types"].values())  # by name, as the connector picks it (onec/connector.py)
    found.append(
        Check(
            SYSTEM,
            "price type / тип цен",
            price_type in prices,
            f"{price_type!r} " + ("uploaded" if price_type in prices else f"not among {_list(prices)}"),
            "set [mapping] price_type to a price type 1C uploads, or add it to the exchange in 1C "
            "/ укажите в [mapping] price_type тип цен, который выгружает 1С",
        )
    )
    stores = set(facts["warehouses"].values()) - {""}
    missing = sorted(set(warehouses) - stores - set(facts["warehouses"]))
    found.append(
        Check(
            SYSTEM,
            "warehouses / склады",
            not missing,
            f"not uploaded: {', '.join(missing)} (1C has {_list(stores)})"
            if missing
            else (f"{len(warehouses)} mapped warehouses uploaded" if warehouses else "none mapped"),
            "fix the names in [mapping] warehouses, or add the warehouses to the exchange in 1C "
            "/ исправьте склады в [mapping] warehouses",
        )
    )
    return Survey(found, facts)


def _list(names: set[str]) -> str:
    return ", ".join(repr(n) for n in sorted(names)) if names else "none yet / пока нет"


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
