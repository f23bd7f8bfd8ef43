"""SQL pieces Piccolo lacks, identical on SQLite and PostgreSQL (STACK_NOTES.md) except where
an engine needs its own form (`bound_like`, `definewtf.trigrams`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString

from definewtf import trigrams
from definewtf.db import is_sqlite


def is_not_true(inner: Combinable) -> Combinable:
    """`(clause) IS NOT TRUE`: the negation of a match in two-valued logic.

    Plain SQL `NOT` is three-valued: `NOT (display_name = 'x')` drops rows whose display_name
    is NULL. A SCIM `not (…)` (and `ne`) must keep them: an unassigned attribute does not
    equal "x", so it matches the negation. `IS NOT TRUE` works on SQLite and PostgreSQL.
    """
    return WhereRaw("(({}) IS NOT TRUE)", inner.querystring)


def json_rows(engine_type: str, *expressions: str) -> str:
    """An aggregate of the rows' `expressions` as a JSON array of arrays (NULL without rows):
    `json_agg(json_build_array(…))` on PostgreSQL, `json_group_array(json_array(…))` on
    SQLite. For correlated subqueries that bring a row's children in the row's own statement."""
    if engine_type == "sqlite":
        return f"json_group_array(json_array({', '.join(expressions)}))"
    return f"json_agg(json_build_array({', '.join(expressions)}))"


def escape_like(value: str) -> str:
    """Make `%`, `_` and `\\` literal in a LIKE pattern (used with ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: A bound LIKE pattern (`{}`), with `\\` as the escape (`escape_like`).
_LIKE = "LIKE {} ESCAPE '\\'"
#: The same on SQLite, where a bare bound pattern is a candidate for SQLite's LIKE
#: optimization: planning looks at each value bound, so binding a new pattern expires the
#: prepared statement and its next run prepares it again (parse and plan). The optimization
#: never applies to our columns (BINARY collation, and LIKE ignores case), and an expression
#: is no candidate.
_SQLITE_LIKE = "LIKE ('' || {}) ESCAPE '\\'"


def bound_like() -> str:
    """`LIKE {} ESCAPE '\\'` for this engine, the pattern a bound parameter."""
    return _SQLITE_LIKE if is_sqlite() else _LIKE


def like_pattern(kind: Literal["co", "sw", "ew"], value: str) -> str:
    """The LIKE pattern of a substring / prefix / suffix search for `value` (its wildcards
    literal)."""
    escaped = escape_like(value)
    return {"co": f"%{escaped}%", "sw": f"{escaped}%", "ew": f"%{escaped}"}[kind]


def like(column: Column, kind: Literal["co", "sw", "ew"], value: str) -> Combinable:
    """Substring / prefix / suffix match of a stored value, with the value's wildcards literal.

    Case: compare a folded `*_ci` column with a folded value for case-insensitive attributes.
    SQLite's LIKE is ASCII-case-insensitive by default, so `case_sensitive_like` must not be
    relied on; callers fold both sides.

    Index: a prefix of a column kept in code point order is its btree range alone
    (`prefix_range`); otherwise the match is narrowed to the rows a trigram index names,
    where the column has one (`definewtf.trigrams`).
    """
    if kind == "sw" and trigrams.prefix_indexed(column):
        # In code point order the range holds exactly the values that begin with `value`: a
        # LIKE beside it decided nothing, and PostgreSQL estimated its pattern at every bind.
        return prefix_range(column, value)
    name = column._meta.get_full_name(with_alias=False)
    # GLOB-free, ESCAPE-explicit LIKE; on SQLite LIKE is case-insensitive for ASCII, which is
    # harmless on folded columns and wrong on case-exact ones, hence the extra equality of
    # substr() for case-exact matching in `like_exact`.
    match = WhereRaw(f"{name} {bound_like()}", like_pattern(kind, value))
    narrowed = trigrams.candidates(column, kind, value, escape_like(value))
    return match if narrowed is None else narrowed & match


def prefix_range(column: Column, prefix: str) -> Combinable:
    """The values of `column` (in code point order) that begin with `prefix`, as a range.

    SQLite uses no index for a LIKE on a BINARY column unless `case_sensitive_like` is on, so
    a prefix search went through the FTS5 trigram table, where a prefix shared by many users
    names them all: as a range it reads the (tenant, column) btree, 240 -> 480-540 searches
    a second on one worker (5,000 users). PostgreSQL derived the same range from a LIKE; it
    still plans the statement for each prefix (bind 0.37 ms, execute 0.17).
    """
    name = qualified(column)
    upper = prefix_successor(prefix)
    if upper is None:
        return WhereRaw(f"{name} >= {{}}", prefix)
    return WhereRaw(f"{name} >= {{}} AND {name} < {{}}", prefix, upper)


#: The last code point, and the surrogates (not valid in UTF-8 text, so never stored).
_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_successor(prefix: str) -> str | None:
    """The least string above every string that begins with `prefix`, in code point order
    (None: there is none, every string from `prefix` on begins with it)."""
    stripped = prefix.rstrip(chr(_LAST_CODE_POINT))
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    if following in _SURROGATES:
        following = _SURROGATES.stop
    return stripped[:-1] + chr(following)


def like_exact(column: Column, kind: Literal["co", "sw", "ew"], value: str) -> Combinable:
    """Case-exact substring / prefix / suffix match on both engines.

    PostgreSQL's LIKE is case-sensitive; SQLite's is not (for ASCII). `instr()` / `substr()`
    exist on both engines (PostgreSQL: `strpos`), so case-exact matching uses LIKE to use the
    index where possible and a byte-exact check to settle the case.
    """
    name = column._meta.get_full_name(with_alias=False)
    base = like(column, kind, value)
    exact: dict[str, str] = {
        "sw": f"substr({name}, 1, {{}}) = {{}}",
        "ew": f"substr({name}, length({name}) - {{}} + 1) = {{}}",
    }
    if kind == "co":
        return base & WhereRaw(f"replace({name}, {{}}, '') <> {name}", value)
    args: Any = (len(value), value)
    return base & WhereRaw(exact[kind], *args)


@dataclass(frozen=True, slots=True)
class ValueOrder:
    """Where a sort key that is each row's only value of an attribute (a single-valued
    attribute kept in `user_value`) is also found in value order: an index led by the tenant
    and the attribute. A page is walked there (`definewtf.services.paging`), then the rows
    without a value; computed for every row of the tenant and sorted, the first page of
    `sortBy=name.familyName` took 1.1-1.4 s at 100,000 users on PostgreSQL."""

    #: The table of values, aliased `sort_value`, and the condition that a row of it is the
    #: row's value (the pair is a join).
    values: str
    matches: QueryString
    #: The value as SQL (`sort_value.value_ci`).
    value: str
    #: The condition on a row that it has no value (those come last in both directions).
    absent: QueryString


@dataclass(frozen=True, slots=True)
class SortKey:
    """An ORDER BY expression (a column or a scalar subquery) and its direction."""

    expression: QueryString
    descending: bool = False
    #: False for a column that is never NULL. Its order is then the expression's alone, which
    #: an index on it gives: the NULL test below, computed per row, kept both engines from the
    #: index, and each page of `sortBy=userName` sorted the whole tenant.
    nullable: bool = True
    #: The same order, walkable in an index of values (`expression` orders the rows read).
    by_value: ValueOrder | None = None

    def clauses(self) -> list[tuple[QueryString, bool]]:
        """(expression, ascending) pairs: NULLs last in both directions on both engines
        (SQLite sorts NULL first, PostgreSQL last), then the expression itself."""
        ordered = (self.expression, not self.descending)
        if not self.nullable:
            return [ordered]
        return [(QueryString("(({}) IS NULL)", self.expression), True), ordered]


def column_expression(column: Column) -> QueryString:
    return QueryString(qualified(column))


def qualified(column: Column) -> str:
    """`"table"."column"`, rendered once per column. Keyed by identity: a Column hashes by
    its bare name and `==` builds a (truthy) clause, so `User.id` and `Group.id` would be one
    key of a `functools.cache`."""
    known = _QUALIFIED.get(id(column))
    if known is None or known[0] is not column:
        known = _QUALIFIED[id(column)] = (column, column._meta.get_full_name(with_alias=False))
    return known[1]


_QUALIFIED: dict[int, tuple[Column, str]] = {}


def compare(column: Column, operator: str, value: Any) -> Combinable:
    """`column <operator> value`, the value bound. Piccolo's `column == value` renders the
    same SQL through its clause tree; on the lookup every IdP sends before each create, that
    (with its ForeignKey attribute access) was a tenth of the request's CPU (py-spy)."""
    return WhereRaw(f"{qualified(column)} {operator} {{}}", value)


def placeholders(count: int) -> str:
    """`{}, {}, …` for a raw query's IN list: values are bound, never written into the SQL."""
    return ", ".join("{}" for _ in range(count))


def row_placeholders(rows: int, width: int) -> str:
    """`({}, {}), ({}, {})`: the VALUES of a raw multi-row INSERT, every value bound."""
    row = f"({placeholders(width)})"
    return ", ".join(row for _ in range(rows))
