"""One trigram index for a user's userName and primary email, with a pending list
(PostgreSQL).

m0011 and m0015 gave each of the two folded values a GIN trigram index of its own, written
entry by entry (`fastupdate = off`). That was the dearest part of a POST: in the one-worker
harness, PostgreSQL spent 250-350 us more per POST with both indexes than without them, out
of about 1,000. An IdP's initial sync is a POST per user.

- One index over one text, both values joined (`definewtf.trigrams.USER_SEARCH_TEXT`, the
  same expression as here): userName is usually the email, so their trigrams go in once.
  A search of either value names the text as well (`definewtf.trigrams.candidates`).
- `fastupdate = on` with a pending list of 256 kB instead of 4 MB: a POST appends its
  entries to the list, and whichever write fills it merges the list into the index, each
  trigram's posting list once for the whole batch. m0011 turned the list off because the
  planner, pricing a scan of a 4 MB list, chose to read the whole table until VACUUM merged
  it; a list this short does not tip the plan (tests/scim/test_substring_search.py plans a
  search right after 20,000 users are written).

Measured (one worker, 2,000 users, 8 rounds in turns): PostgreSQL CPU per POST 949-1,176 ->
735-947 us, POSTs 537-667 -> 635-757/s. A search still finds a user the moment the POST
returns: the pending list is searched too.
"""

from definewtf.ddl import pg_trigram_index, raw_migration

ID = "2026-11-29T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one trigram index of a user's userName and primary email (PostgreSQL)"

#: Frozen here: the index's expression, as `definewtf.trigrams.USER_SEARCH_TEXT` names it.
SEARCH_TEXT = "(user_name_ci || chr(10) || coalesce(email_ci, user_name_ci))"

STATEMENTS = [
    pg_trigram_index(
        "app_user_search_trgm",
        "app_user",
        SEARCH_TEXT,
        storage="fastupdate = on, gin_pending_list_limit = 256",
    ),
    "DROP INDEX IF EXISTS app_user_user_name_trgm",
    "DROP INDEX IF EXISTS app_user_email_trgm",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, STATEMENTS, engines=("postgres",))
