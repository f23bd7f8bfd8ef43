"""Room on each page of users and groups for their next version (PostgreSQL fillfactor).

An IdP updates users far more often than it creates them: attribute syncs, deactivations,
full PUTs. PostgreSQL writes an updated row as a new version; when that version fits on the
row's own page and no indexed column changed, the update is "HOT" and leaves every index
alone. Otherwise it adds an entry to each of the table's indexes — seven on `app_user`,
among them the trigram GIN index of m0011, a few dozen entries per userName.

Pages filled by an initial sync are full (the default fillfactor is 100): 29% of the first
updates of 20,000 freshly synced users were not HOT, and PostgreSQL's CPU per PATCH was
508-571 µs. With 20% of each page kept free, 100% were HOT and it was 377-441 µs
(bench/RESULTS.md). Groups take membership changes the same way.

The setting applies to pages written from now on; a table written before this migration
gains the room as its rows are rewritten (or at once by `VACUUM FULL`, an operator's
choice). SQLite has no such setting.
"""

from definewtf.ddl import raw_migration

ID = "2026-11-29T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "fillfactor 80 on app_user and app_group (PostgreSQL)"

#: Per cent of a page filled by inserts; the rest is for updated versions of its rows.
FILLFACTOR = 80

STATEMENTS = [
    f"ALTER TABLE app_user SET (fillfactor = {FILLFACTOR})",
    f"ALTER TABLE app_group SET (fillfactor = {FILLFACTOR})",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, STATEMENTS, engines=("postgres",))
