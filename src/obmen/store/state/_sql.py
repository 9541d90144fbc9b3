"""What the state repositories share: the dialect's upsert, id lists in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["chunks", "upsert"]

#: Ids per `IN (…)` list: far below the 65,535 bind parameters PostgreSQL allows a statement.
CHUNK = 500


def upsert(conn: AsyncConnection, table: sa.Table) -> Any:
    """An `INSERT` that can say `ON CONFLICT`, in the connection's dialect."""
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def chunks(ids: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """The distinct ids, a list of at most `size` at a time, for `IN (…)` lookups."""
    distinct = list(dict.fromkeys(ids))
    for start in range(0, len(distinct), size):
        yield distinct[start : start + size]
