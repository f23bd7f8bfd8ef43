"""Where a substring search (`co`, `sw`, `ew`) may look, on SQLite (migration m0014).

PostgreSQL's planner finds m0011's trigram indexes for a LIKE by itself. SQLite's LIKE cannot
use an FTS5 index, so the search is told: `candidates` adds "among the rows whose folded
value contains this phrase", which FTS5's trigram tokenizer answers from its index. LIKE still
decides the match, so the candidates only have to include every match.
"""

from __future__ import annotations

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

#: A trigram index finds only phrases of three characters or more.
SHORTEST = 3


def candidates(column: Column, value: str) -> Combinable | None:
    """The rows of `column`'s table a substring search for `value` (folded, the way the
    column is) need look at; None where nothing narrows the search (PostgreSQL, short
    values, other columns, a SQLite without FTS5 trigrams)."""
    table, name = column._meta.table._meta.tablename, column._meta.db_column_name
    index = TRIGRAM_TABLES.get((table, name))
    engine = current_engine()
    if index is None or len(value) < SHORTEST or not isinstance(engine, ReusingSQLiteEngine):
        return None
    if not engine.has_table(index):
        return None
    # The phrase, in the column's own part of the index (FTS5's column filter).
    phrase = f'{{{name}}} : "' + value.replace('"', '""') + '"'
    # Only constant names are formatted in; the phrase is a bound parameter.
    return WhereRaw(
        f'"{table}".rowid IN (SELECT rowid FROM {index} WHERE {index} MATCH {{}})',  # noqa: S608
        phrase,
    )
