"""A trigram index of the primary email for the admin console's search (PostgreSQL).

The console's `users(filter: {search: "…"})` matches a substring of the userName *or* of the
primary email. m0011 indexed only userName, and an OR can use indexes only if each side has
one: every search read every user of the tenant (3.6 ms at 10,000 users, EXPLAIN ANALYZE;
ten times that at 100,000), on every keystroke the console sends. With both indexes
PostgreSQL ORs the two bitmaps: 0.34 ms.

Cost: a sync writes one more GIN index (PostgreSQL CPU per POST 639-644 -> 655-683 us, one
worker, in turns). An update that leaves the email as it is stays HOT (m0013).
"""

from definewtf.ddl import pg_trigram_index, raw_migration

ID = "2026-11-29T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trigram index of app_user.email_ci for the console search (PostgreSQL)"

STATEMENTS = [pg_trigram_index("app_user_email_trgm", "app_user", "email_ci")]


async def forwards():
    return raw_migration(ID, DESCRIPTION, STATEMENTS, engines=("postgres",))
