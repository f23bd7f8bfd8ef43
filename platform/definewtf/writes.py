"""Writes of several rows that happen together or not at all, in as few round trips as the
engine allows.

An IdP's sync is a POST per user and its attribute sync a PATCH per user, and each writes the
user's row, its audit event and its searchable values. Statement by statement in a
transaction, a PATCH was BEGIN, a locked read, three writes and COMMIT: six round trips, and
py-spy put the statements at 40% of the request's CPU (now four: the three writes are one;
a POST is one statement in all). `write_together(first, *rest)` runs `first`, and `rest`
only if `first` wrote a row:

- PostgreSQL: one statement. `first` is a data-modifying `WITH` whose `RETURNING` gates every
  other part (`… WHERE EXISTS (SELECT 1 FROM written)`); a statement is atomic without a
  transaction. Rows go in through `unnest` of one array per column, so the statement's text,
  and thus asyncpg's prepared statement, is the same whatever the number of rows.
- SQLite (no data-modifying `WITH`): the statements one after the other in a savepoint of
  an IMMEDIATE transaction that the writes waiting meanwhile share, run on the event loop,
  its COMMIT on the engine's writer thread (`ReusingSQLiteEngine.write_at_once`). Inside a
  caller's transaction, each statement is one hop to its connection's thread.

`first` is the write a concurrent change stops: an INSERT that a unique index refuses
(`unless_taken`: the name is in use), or an UPDATE whose WHERE names the version the caller
read (another writer moved it: nothing is written, and the caller reads again; a user's
update or restore). Inside a `write_transaction()` it joins it, and a row locked there
cannot move.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from piccolo.columns import JSON, JSONB, Column
from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString
from piccolo.table import Table
from piccolo.utils.encoding import dump_json

from definewtf.db import fetch, in_transaction, is_sqlite, sqlite_write_at_once
from definewtf.sql import placeholders, row_placeholders

#: Rows per INSERT, or keys per DELETE, of a statement run alone (SQLite): far below its
#: parameter limit (999 before 3.32) for the widest of our rows.
_ROWS_PER_STATEMENT = 100

#: The condition of every part of a PostgreSQL `write_together` after the first (named
#: `written` in its WITH).
_IF_WRITTEN = "EXISTS (SELECT 1 FROM written)"


def _stored(column: Column, value: Any) -> Any:
    """A value as the driver takes it: JSON columns take the JSON text."""
    if isinstance(column, JSON | JSONB) and value is not None and not isinstance(value, str):
        return dump_json(value)
    return value


def _shape(arg: Any) -> Any:
    if isinstance(arg, tuple):
        return tuple(map(id, arg))
    return arg if arg is None or isinstance(arg, int) else id(arg)


_Render = TypeVar("_Render", bound=Callable[..., Any])


def _rendered_once(render: _Render) -> _Render:
    """The SQL of each shape of write, rendered once: Piccolo's column attributes are
    properties (a ForeignKey's go through __getattribute__), and a PATCH renders four writes.

    Keyed by identity, not by functools.cache: a Piccolo column hashes as its name, and its
    `==` builds a (truthy) WHERE clause, so two tables' columns of the same names would be
    one key. Tables and columns live as long as the process."""
    memo: dict[tuple[Any, ...], Any] = {}

    @functools.wraps(render)
    def rendered(*args: Any) -> Any:
        key = tuple(map(_shape, args))
        if key not in memo:
            memo[key] = render(*args)
        return memo[key]

    return cast(_Render, rendered)


def _names(columns: tuple[Column, ...]) -> str:
    return ", ".join(f'"{column._meta.db_column_name}"' for column in columns)


def _table(table: type[Table]) -> str:
    return f'"{table._meta.tablename}"'


@_rendered_once
def _json_positions(columns: tuple[Column, ...]) -> tuple[int, ...]:
    return tuple(i for i, column in enumerate(columns) if isinstance(column, JSON | JSONB))


def _insert_into(table: type[Table], columns: tuple[Column, ...]) -> str:
    return f"INSERT INTO {_table(table)} ({_names(columns)})"


@_rendered_once
def _insert_sql(
    table: type[Table], columns: tuple[Column, ...], rows: int, unless_taken: tuple[Column, ...]
) -> str:
    conflict = f" ON CONFLICT ({_names(unless_taken)}) DO NOTHING" if unless_taken else ""
    return f"{_insert_into(table, columns)} VALUES {row_placeholders(rows, len(columns))}{conflict}"


@_rendered_once
def _gated_insert_sql(table: type[Table], columns: tuple[Column, ...]) -> str:
    # Parameters of a SELECT are not typed by the INSERT's columns, as those of VALUES are.
    arrays = ", ".join(f"{{}}::{column.column_type}[]" for column in columns)
    return f"{_insert_into(table, columns)} SELECT * FROM unnest({arrays}) WHERE {_IF_WRITTEN}"  # noqa: S608


@_rendered_once
def _update_sql(table: type[Table], columns: tuple[Column, ...]) -> str:
    assignments = ", ".join(f'"{column._meta.db_column_name}" = {{}}' for column in columns)
    return f"UPDATE {_table(table)} SET {assignments} WHERE ({{}})"  # noqa: S608


@_rendered_once
def _delete_sql(table: type[Table], column: Column, keys: int | None) -> str:
    """Rows whose `column` is one of `keys` bound values, or (None) of one bound array."""
    name = f'"{column._meta.db_column_name}"'
    matched = f"= ANY({{}}) AND {_IF_WRITTEN}" if keys is None else f"IN ({placeholders(keys)})"
    return f"DELETE FROM {_table(table)} WHERE ({{}}) AND {name} {matched}"  # noqa: S608


@dataclass(frozen=True, slots=True)
class Insert:
    """Rows of `table`, each a tuple of values of `columns`."""

    table: type[Table]
    columns: tuple[Column, ...]
    rows: Sequence[tuple[Any, ...]]
    #: A unique index's columns: a row it would refuse is not inserted (`ON CONFLICT … DO
    #: NOTHING`), and the write of `write_together` it gates does not happen.
    unless_taken: tuple[Column, ...] = ()

    @classmethod
    def row(
        cls, table: type[Table], values: Mapping[Column, Any], unless_taken: tuple[Column, ...] = ()
    ) -> Insert:
        return cls(table, tuple(values), [tuple(values.values())], unless_taken)

    def _stored_rows(self, rows: Sequence[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        json = _json_positions(self.columns)
        if not json:
            return rows
        columns = self.columns
        return [
            tuple(_stored(columns[i], v) if i in json else v for i, v in enumerate(row))
            for row in rows
        ]

    def statements(self) -> Iterator[QueryString]:
        for start in range(0, len(self.rows), _ROWS_PER_STATEMENT):
            batch = self._stored_rows(self.rows[start : start + _ROWS_PER_STATEMENT])
            sql = _insert_sql(self.table, self.columns, len(batch), self.unless_taken)
            yield QueryString(sql, *itertools.chain.from_iterable(batch))

    def gated(self) -> QueryString:
        """The rows as one array per column."""
        arrays = [list(values) for values in zip(*self._stored_rows(self.rows), strict=True)]
        return QueryString(_gated_insert_sql(self.table, self.columns), *arrays)


@dataclass(frozen=True, slots=True)
class Update:
    """`values` into the rows of `table` that `where` matches."""

    table: type[Table]
    values: Mapping[Column, Any]
    where: Combinable

    def statements(self) -> Iterator[QueryString]:
        yield QueryString(
            _update_sql(self.table, tuple(self.values)),
            *(_stored(column, value) for column, value in self.values.items()),
            self.where.querystring,
        )


@dataclass(frozen=True, slots=True)
class Delete:
    """The rows of `table` that `where` matches whose `column` is one of `keys`."""

    table: type[Table]
    where: Combinable
    column: Column
    keys: Sequence[Any]

    def statements(self) -> Iterator[QueryString]:
        for start in range(0, len(self.keys), _ROWS_PER_STATEMENT):
            batch = self.keys[start : start + _ROWS_PER_STATEMENT]
            sql = _delete_sql(self.table, self.column, len(batch))
            yield QueryString(sql, self.where.querystring, *batch)

    def gated(self) -> QueryString:
        sql = _delete_sql(self.table, self.column, None)
        return QueryString(sql, self.where.querystring, list(self.keys))


#: What `write_together` writes after its first write.
Then = Insert | Delete


def _empty(write: Then) -> bool:
    return (isinstance(write, Insert) and not write.rows) or (
        isinstance(write, Delete) and not write.keys
    )


async def write_together(first: Insert | Update, *rest: Then) -> bool:
    """Run `first`, then `rest` if `first` wrote a row; all of it or nothing (see the module).
    Whether `first` wrote. Inside a `write_transaction()` it joins it."""
    rest = tuple(write for write in rest if not _empty(write))
    [statement] = first.statements()  # one row, or one UPDATE
    if is_sqlite():
        later = [each for write in rest for each in write.statements()]
        if not in_transaction():
            return await sqlite_write_at_once(statement, later)
        await fetch("{}", statement)
        [written] = await fetch("SELECT changes() AS n")
        if not written["n"]:
            return False
        for each in later:
            await fetch("{}", each)
        return True
    parts = [QueryString("written AS ({} RETURNING 1)", statement)]
    parts += (QueryString(f"w{index} AS ({{}})", write.gated()) for index, write in enumerate(rest))
    with_ = placeholders(len(parts))
    [row] = await fetch(f"WITH {with_} SELECT count(*) AS n FROM written", *parts)  # noqa: S608
    return bool(row["n"])


async def insert_row(table: type[Table], values: Mapping[Column, Any]) -> None:
    """INSERT one row of `values` (column → value; JSON columns take Python values), without
    Piccolo's query object (built per call, a measurable share of the writes every request
    makes)."""
    for statement in Insert.row(table, values).statements():
        await fetch("{}", statement)
