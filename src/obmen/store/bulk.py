"""Many rows through one statement without SQLAlchemy's work per row (docs/architecture.md §2.5).

`conn.execute(statement, rows)` builds, for every row, a parameter set: it looks each value up, runs it
through the type's bind processor and checks what is missing. For the columns the hot bulk writes fill
(strings, integers, floats) that is mostly overhead, about 14 µs a row and a fifth of a 1C catalog's
absorb at 100k products (issue 14). `execute_many` compiles the statement once per dialect and set of
columns, and hands the driver its SQL and the rows' values, each through its column's bind processor
where it has one (SQLite's floats), as SQLAlchemy would. A statement whose compiled form needs more
(an expanding or post-compiled parameter, a bound name that is not a row key) takes the ordinary path,
with the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["execute_many"]

_Processor = Callable[[Any], Any]
#: The driver's SQL; the order of its positional values (None: named); each column's bind processor.
_Plan = tuple[str, tuple[str, ...] | None, dict[str, _Processor]] | None
_PLANS: dict[tuple[int, str, tuple[str, ...]], tuple[sa.Executable, _Plan]] = {}
#: Statements are module constants; the cap only keeps a caller that builds them anew from growing it.
_PLANS_CAP = 256


async def execute_many(
    conn: AsyncConnection, statement: sa.Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`await conn.execute(statement, rows)`, for rows that all have the first row's keys."""
    if not rows:
        return
    keys = tuple(rows[0])
    plan = _plan(statement, conn.dialect, keys)
    if plan is None:
        await conn.execute(statement, list(rows))
        return
    sql, order, processors = plan
    if order is None:
        await conn.exec_driver_sql(sql, [_named(row, processors) for row in rows])
    elif processors:
        steps = [(k, processors.get(k)) for k in order]
        values = [tuple([row[k] if p is None else p(row[k]) for k, p in steps]) for row in rows]
        await conn.exec_driver_sql(sql, values)
    else:
        await conn.exec_driver_sql(sql, [tuple([row[k] for k in order]) for row in rows])


def _named(row: Mapping[str, Any], processors: dict[str, _Processor]) -> dict[str, Any]:
    out = dict(row)
    for key, process in processors.items():
        out[key] = process(out[key])
    return out


def _plan(statement: sa.Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    cache_key = (id(statement), dialect.name, keys)
    held = _PLANS.get(cache_key)
    if held is not None and held[0] is statement:
        return held[1]
    plan = _compile(statement, dialect, keys)
    if len(_PLANS) >= _PLANS_CAP:
        _PLANS.clear()
    _PLANS[cache_key] = (statement, plan)  # the statement is kept, so its id is never reused meanwhile
    return plan


def _compile(statement: sa.Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    binds = compiled.binds
    if any(b.expanding or b.literal_execute for b in binds.values()):
        return None
    if set(binds) != set(keys) or compiled.escaped_bind_names:
        return None
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None
    order = compiled.positiontup
    processors = dict(compiled._bind_processors)
    return str(compiled), (tuple(order) if order is not None else None), processors
