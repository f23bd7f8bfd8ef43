"""One page of a tenant's rows: filtered, counted and ordered in SQL, stably."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from piccolo.custom_types import Combinable
from piccolo.table import Table

from definewtf.errors import Invalid
from definewtf.sql import SortKey

#: The largest page any list returns (SCIM advertises it as filter.maxResults).
MAX_PAGE_SIZE = 1000


async def fetch_page(
    table: type[Table],
    columns: Sequence[Any],
    where: Combinable,
    *,
    sort: SortKey | None,
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """(exact total, rows of the page). Rows follow `sort`, then creation time and id, so the
    order is total and pages neither repeat nor skip a row."""
    if offset < 0 or not 0 <= limit <= MAX_PAGE_SIZE:
        raise Invalid("page out of range")
    t: Any = table
    if limit == 0:
        return await table.count().where(where), []
    query = table.select(*columns).where(where)
    for expression, ascending in sort.clauses() if sort else []:
        query = query.order_by(expression, ascending=ascending)
    rows = list(
        await query.order_by(t.created_at)
        .order_by(t.id)
        .offset(offset)
        .limit(limit)
        .output(load_json=True)
    )
    if len(rows) < limit and (rows or offset == 0):
        # The page ends before `limit`: it holds the last rows, so the total is known without
        # counting. A lookup (`userName eq …`: 0 or 1 row) is then one statement, not two.
        return offset + len(rows), rows
    return await table.count().where(where), rows
