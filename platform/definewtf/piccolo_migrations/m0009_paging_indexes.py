"""Indexes for deep pages and big groups (issue 6, bench/RESULTS.md).

- A page at startIndex 90,001 skips 90,000 users. `fetch_page` picks the page's ids first
  (`SELECT id … ORDER BY created_at, id OFFSET … LIMIT …`); this partial index holds exactly the
  live users in that order with their id, so the skip walks index entries only, never rows.
- A group's members are read in the order they were added: with this index a 50,000-member
  group is read in order instead of sorted per request.
"""

from definewtf.ddl import raw_migration

ID = "2026-11-28T22:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "deep-page and big-group indexes"

INDEXES = [
    "CREATE INDEX app_user_tenant_live_created_at ON app_user (tenant, created_at, id) "
    "WHERE deleted_at IS NULL",
    'CREATE INDEX group_member_tenant_group_created_at ON group_member (tenant, "group", '
    "created_at, id)",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, INDEXES)
