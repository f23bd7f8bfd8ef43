"""A user's folded userName and email in byte order (PostgreSQL), as SQLite keeps them.

`filter=userName sw "…"` (and `emails sw`) went to the trigram index, which for a prefix that
every user shares (`user…`, a company's `ext-`) reads the posting lists of the whole tenant:
1.7 ms per search at 100,000 users, against 0.2 ms for a `co` of a distinctive phrase
(EXPLAIN ANALYZE). PostgreSQL answers `LIKE 'prefix%'` from a btree as a range, but only where
the column sorts bytewise ("C"): under a linguistic collation a string with the prefix may sort
outside the range. In "C", the (tenant, user_name_ci) and (tenant, email_ci) btrees answer a
prefix search as a range: 0.1 ms.

Nothing else changes meaning. Equality under a deterministic collation is byte equality
already, so the unique index admits the same names; sorting by userName follows code points,
which is what SQLite (BINARY) and the tests' Python `sorted` did. The indexes over these
columns are rebuilt (1.6 s at 100,000 users).
"""

from definewtf.ddl import raw_migration

ID = "2026-11-29T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "users' folded userName and email in byte order (PostgreSQL)"

STATEMENTS = [
    'ALTER TABLE app_user ALTER COLUMN user_name_ci TYPE text COLLATE "C",'
    ' ALTER COLUMN email_ci TYPE text COLLATE "C"',
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, STATEMENTS, engines=("postgres",))
