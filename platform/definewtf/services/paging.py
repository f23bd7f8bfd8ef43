"""One page of a tenant's rows: filtered, counted and ordered in SQL, stably.

The page query is composed here from a column list rendered once per table and the caller's
WHERE clause: every SCIM lookup and list runs it, and Piccolo's query builder (rendering 13
columns, their aliases and the whole tree on every call) was most of a lookup's CPU (py-spy).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from piccolo.columns import JSON, JSONB, Column
from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString
from piccolo.table import Table

from definewtf.db import (
    concurrent_reads,
    fetch,
    is_sqlite,
    planned_each_time,
    planned_once_here,
)
from definewtf.errors import Invalid
from definewtf.sql import SortKey, ValueOrder, placeholders

#: More values to select, beside a table's columns: (name, SQL expression of ours, whose
#: value is JSON), e.g. a correlated subquery that saves the statement that would read it.
Extra = tuple[tuple[str, str], ...]

#: The largest page any list returns (SCIM advertises it as filter.maxResults).
MAX_PAGE_SIZE = 1000


async def fetch_page(
    table: type[Table],
    columns: Sequence[Column],
    where: Combinable,
    *,
    sort: SortKey | None,
    offset: int,
    limit: int,
    extra: Extra = (),
    count_ahead: bool = False,
    count_index: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """(exact total, rows of the page). Rows follow `sort`, then creation time and id, so the
    order is total and pages neither repeat nor skip a row.

    `count_ahead`: the page is expected full (a whole tenant's listing), so its total is
    counted beside the read rather than after it, where the database can (PostgreSQL outside
    a transaction): an admin paging through 10,000 users waited for a 3 ms count after each
    page's read. Sorted by a value, such a listing walks the values first (`_ids_by_value`).

    `count_index`: on SQLite, the index the total is counted in, one that holds every row
    `where` names. Once analyzed, a database of one tenant tells SQLite's planner that
    `tenant = ?` names every row, and it counted by reading the whole table, attributes and
    all: 4.6 ms at 10,000 users against 0.7 ms in the index (and the statistics of a server
    restarted on its data are always there).

    A search planned once (`definewtf.db.planned_once`) that names more than its first page
    shows is read again, planned for its values."""
    if offset < 0 or not 0 <= limit <= MAX_PAGE_SIZE:
        raise Invalid("page out of range")
    count = functools.partial(_count, table, where, count_index)
    if limit == 0:
        return await count(), []
    selected, json_columns = _select(table, tuple(columns), extra)
    order, order_args = _order_by(sort)
    if sort is not None and sort.by_value is not None:
        ids = await _ids_by_value(
            table, where, sort.by_value, sort.descending, offset, limit, whole=count_ahead
        )
        query = QueryString(
            f"{selected} WHERE {{}} AND id IN ({placeholders(len(ids))}) {order}",
            where.querystring,
            *ids,
            *order_args,
        )
        rows = await _rows(table, query, json_columns) if ids else []
        # Whether the page ends the listing is the walk's to say: a row deleted since it
        # (one statement later) shortens the page, not the listing.
        return await _total(ids, offset, limit, count), rows
    names = _columns(table, tuple(columns), extra)[0]
    page = _Page(table, selected, names, json_columns, where, order, order_args, offset, limit)
    if planned_once_here():
        # Planned without its pattern, a search reads every row the pattern names and sorts
        # them: for `userName co "example"` at 100,000 users (everyone) 160 ms for the
        # first page and 78 ms for its count, against 0.1 ms (the creation order walked,
        # stopping at the page's end) and 44 ms planned for the pattern. So the first page
        # is read among no more rows than it shows and one: a search that names no more (an
        # IdP's, most of a console's) is answered by that statement, planned once; one
        # that names more is read again, page and count at once, planned for its values.
        if offset == 0:
            every = await page.all_if_no_more()
            if every is not None:
                return len(every), every
        with planned_each_time():
            return await page.read(count, count_ahead=True)
    return await page.read(count, count_ahead=count_ahead)


@dataclass(frozen=True)
class _Page:
    """A page of rows in a column order (`order`, ending in creation time and id)."""

    table: type[Table]
    selected: str  # `SELECT <columns> FROM "table"`
    columns: str
    json_columns: tuple[str, ...]
    where: Combinable
    order: str
    order_args: list[QueryString]
    offset: int
    limit: int

    async def all_if_no_more(self) -> list[dict[str, Any]] | None:
        """Every row `where` names, in order, if they are no more than `limit`, else None: read
        among the first `limit + 1` rows the plan finds, in no order, which are all of them
        if no more."""
        name = _name(self.table)
        query = QueryString(
            f"SELECT {self.columns} FROM (SELECT * FROM {name} WHERE {{}} LIMIT {{}}) "  # noqa: S608
            f"AS {name} {self.order}",
            self.where.querystring,
            self.limit + 1,
            *self.order_args,
        )
        rows = await _rows(self.table, query, self.json_columns)
        return rows if len(rows) <= self.limit else None

    async def read(
        self, count: Callable[[], Awaitable[int]], *, count_ahead: bool
    ) -> tuple[int, list[dict[str, Any]]]:
        order, order_args, selected = self.order, self.order_args, self.selected
        if self.offset:
            # A deep page names its ids first and reads only those rows: the skipped rows
            # are walked in an index that holds the order and the id (m0009), and never
            # read. OFFSET over whole rows grew with startIndex (1.7x the first page at
            # 10,000 users).
            query = QueryString(
                f"{selected} WHERE id IN (SELECT id FROM {_name(self.table)} WHERE {{}} "  # noqa: S608
                f"{order} LIMIT {{}} OFFSET {{}}) {order}",
                self.where.querystring,
                *order_args,
                self.limit,
                self.offset,
                *order_args,
            )
        else:
            query = QueryString(
                f"{selected} WHERE {{}} {order} LIMIT {{}}",
                self.where.querystring,
                *order_args,
                self.limit,
            )
        if count_ahead and concurrent_reads():
            total, rows = await asyncio.gather(count(), _rows(self.table, query, self.json_columns))
            return total, rows
        rows = await _rows(self.table, query, self.json_columns)
        return await _total(rows, self.offset, self.limit, count), rows


async def _total(
    found: Sequence[Any], offset: int, limit: int, count: Callable[[], Awaitable[int]]
) -> int:
    """The listing's total, `found` being what a page starting at `offset` found: a page
    that ends before `limit` holds the last rows, so the total is known without counting. A
    lookup (`userName eq …`: 0 or 1 row) is then one statement, not two."""
    if len(found) < limit and (found or offset == 0):
        return offset + len(found)
    return await count()


async def _ids_by_value(
    table: type[Table],
    where: Combinable,
    by_value: ValueOrder,
    descending: bool,
    offset: int,
    limit: int,
    *,
    whole: bool,
) -> list[Any]:
    """The ids of a page in the order of a value kept in an index (`ValueOrder`): the rows
    with a value, walked in the index, then those without, in creation order. The second
    statement runs only for the page where the rows with a value end (or past it).

    `whole`: the listing is the tenant's, unfiltered. SQLite is then made to walk the values
    first (a CROSS JOIN keeps its tables in the order written): its statistics of a real
    tenant's `user_value` priced that above reading every user and sorting them all, 53 ms
    for the first page at 10,000 users. A filter may name few rows: its join is left to the
    planner. PostgreSQL plans both alike."""
    name = _name(table)
    joined = f"{by_value.values} {'CROSS JOIN' if whole else ','} {name}"
    direction = "DESC" if descending else "ASC"
    valued = await fetch(
        f"SELECT {name}.id AS id FROM {joined} WHERE {{}} AND {{}} "  # noqa: S608 -- our names
        f"ORDER BY {by_value.value} {direction}, {name}.created_at ASC, {name}.id ASC "
        "LIMIT {} OFFSET {}",
        by_value.matches,
        where.querystring,
        limit,
        offset,
    )
    ids = [row["id"] for row in valued]
    if len(ids) == limit:
        return ids
    if ids or offset == 0:
        with_value = offset + len(ids)
    else:  # past the last row with a value: how many there are
        counted = await fetch(
            f"SELECT COUNT(*) AS n FROM {joined} WHERE {{}} AND {{}}",  # noqa: S608
            by_value.matches,
            where.querystring,
        )
        with_value = int(counted[0]["n"])
    without = await fetch(
        f"SELECT id FROM {name} WHERE {{}} AND {{}} "  # noqa: S608 -- our names
        "ORDER BY created_at ASC, id ASC LIMIT {} OFFSET {}",
        where.querystring,
        by_value.absent,
        limit - len(ids),
        max(0, offset - with_value),
    )
    return ids + [row["id"] for row in without]


async def _count(table: type[Table], where: Combinable, index: str | None) -> int:
    indexed = f" INDEXED BY {index}" if index is not None and is_sqlite() else ""
    rows = await fetch(
        f"SELECT COUNT(*) AS n FROM {_name(table)}{indexed} WHERE {{}}",  # noqa: S608
        where.querystring,
    )
    return int(rows[0]["n"])


async def select_rows(
    table: type[Table],
    columns: Sequence[Column],
    where: Combinable,
    *,
    for_update: bool = False,
    extra: Extra = (),
) -> list[dict[str, Any]]:
    """The rows of `table` matching `where` (a resource by id), composed like a page.
    `for_update` locks them for the rest of the transaction on PostgreSQL; on SQLite the
    IMMEDIATE write transaction already excludes every other writer."""
    selected, json_columns = _select(table, tuple(columns), extra)
    lock = " FOR UPDATE" if for_update and not is_sqlite() else ""
    query = QueryString(f"{selected} WHERE {{}}{lock}", where.querystring)
    return await _rows(table, query, json_columns)


async def _rows(
    table: type[Table], query: QueryString, json_columns: tuple[str, ...]
) -> list[dict[str, Any]]:
    rows = await fetch("{}", query)
    for row in rows:
        for name in json_columns:
            if isinstance(row[name], str):
                row[name] = msgspec.json.decode(row[name])
    return rows


def _name(table: type[Table]) -> str:
    return f'"{table._meta.tablename}"'


def select_list(table: type[Table], columns: Sequence[Column]) -> str:
    """`SELECT "a", "b" … FROM "table"`, rendered once per table and columns."""
    return _select(table, tuple(columns))[0]


@functools.cache
def _select(
    table: type[Table], columns: tuple[Column, ...], extra: Extra = ()
) -> tuple[str, tuple[str, ...]]:
    """`SELECT "a", "b" … FROM "table"` and which of the columns hold JSON (`_columns`)."""
    names, json_columns = _columns(table, columns, extra)
    return f"SELECT {names} FROM {_name(table)}", json_columns  # noqa: S608 -- our names


@functools.cache
def _columns(
    table: type[Table], columns: tuple[Column, ...], extra: Extra = ()
) -> tuple[str, tuple[str, ...]]:
    """`"a", "b", …` (`extra`'s named) rendered once per table and columns, and which of them
    hold JSON (`extra`'s too)."""
    names = ", ".join(
        [
            *(f'"{column._meta.db_column_name}"' for column in columns),
            *(f'{expression} AS "{name}"' for name, expression in extra),
        ]
    )
    json_columns = tuple(c._meta.name for c in columns if isinstance(c, JSON | JSONB))
    json_columns += tuple(name for name, _ in extra)
    return names, json_columns


def _order_by(sort: SortKey | None) -> tuple[str, list[QueryString]]:
    """`ORDER BY …` in the page order: `sort`, then creation time and id (a total order)."""
    terms: list[str] = []
    args: list[QueryString] = []
    for expression, ascending in sort.clauses() if sort else []:
        terms.append("{} ASC" if ascending else "{} DESC")
        args.append(expression)
    return "ORDER BY " + ", ".join([*terms, "created_at ASC", "id ASC"]), args
