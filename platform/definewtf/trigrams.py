"""Where a substring search (`co`, `sw`, `ew`) may look: the rows a trigram index names.

`candidates` adds "among the rows whose folded value contains this phrase" to a search, in
the form the engine's index answers. LIKE still decides the match, so the candidates only
have to include every match.

- SQLite (m0014): its LIKE cannot use an FTS5 index, so the search is told to read the FTS5
  trigram table's rows.
- PostgreSQL: the planner finds a column's own GIN trigram index for a LIKE by itself (a
  group's displayName, m0011). A user's folded userName and primary email share one index
  over one text, `USER_SEARCH_TEXT` (m0016): a search of either names that text, which is
  what lets the planner see the index.

A prefix of either is found in their btrees instead, on both engines (`PREFIX_INDEXED`).
"""

from __future__ import annotations

from typing import Literal

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable

from definewtf.db import ReusingSQLiteEngine, current_engine

#: (table, folded column) → the FTS5 trigram table holding it (the names m0014 created).
TRIGRAM_TABLES = {
    ("app_user", "user_name_ci"): "app_user_trgm",
    ("app_user", "email_ci"): "app_user_trgm",
    ("app_group", "display_name_ci"): "app_group_trgm",
}

#: The text m0016 indexes on PostgreSQL: both folded values, so that a user's POST writes one
#: GIN index, not two, and the trigrams they share (userName is usually the email) once. It
#: must stay the index's expression as written there, or the planner no longer matches them
#: (tests/scim/test_filter_indexes.py). A value contains a phrase only if this text does.
USER_SEARCH_TEXT = (
    '("app_user"."user_name_ci" || chr(10) '
    '|| coalesce("app_user"."email_ci", "app_user"."user_name_ci"))'
)
PG_TRIGRAM_TEXTS = {
    ("app_user", "user_name_ci"): USER_SEARCH_TEXT,
    ("app_user", "email_ci"): USER_SEARCH_TEXT,
}
#: Columns kept in code point order (SQLite's BINARY collation; PostgreSQL's "C", m0017) with
#: a btree led by the tenant: a prefix (`sw`) is a range there (`definewtf.sql.like`),
#: dearer through trigrams when many values share the prefix.
PREFIX_INDEXED = frozenset({("app_user", "user_name_ci"), ("app_user", "email_ci")})


def prefix_indexed(column: Column) -> bool:
    return (column._meta.table._meta.tablename, column._meta.db_column_name) in PREFIX_INDEXED


#: A trigram index finds only phrases of three characters or more.
SHORTEST = 3


def candidates(
    column: Column, kind: Literal["co", "sw", "ew"], value: str, escaped: str
) -> Combinable | None:
    """The rows of `column`'s table a substring search (`kind`: co, sw, ew) for `value`
    (folded, the way the column is; `escaped`: with LIKE's wildcards escaped) need look at;
    None where nothing narrows the search (short values, other columns, a SQLite without FTS5
    trigrams) or where the planner finds an index itself. `like` asks only for what its
    btree range (`PREFIX_INDEXED`) does not answer."""
    if len(value) < SHORTEST:
        return None
    table, name = column._meta.table._meta.tablename, column._meta.db_column_name
    engine = current_engine()
    if engine.engine_type == "postgres":
        text = PG_TRIGRAM_TEXTS.get((table, name))
        if text is None:
            return None
        return WhereRaw(f"{text} LIKE {{}} ESCAPE '\\'", f"%{escaped}%")
    index = TRIGRAM_TABLES.get((table, name))
    if index is None or not isinstance(engine, ReusingSQLiteEngine) or not engine.has_table(index):
        return None
    # Only constant names are formatted in; the query is a bound parameter.
    return WhereRaw(
        f'"{table}".rowid IN (SELECT rowid FROM {index} WHERE {index} MATCH {{}})',  # noqa: S608
        fts_query(name, value),
    )


def fts_query(column: str, value: str) -> str:
    """FTS5's query for the rows whose `column` holds every trigram of `value`, in its own
    part of the index (the column filter). Not the value as a phrase: the indexes keep no
    positions (m0018), and LIKE decides the match."""
    trigrams = dict.fromkeys(value[i : i + SHORTEST] for i in range(len(value) - SHORTEST + 1))
    quoted = " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)
    return f"{{{column}}} : ({quoted})"
