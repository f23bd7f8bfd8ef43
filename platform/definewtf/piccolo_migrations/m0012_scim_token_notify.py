"""PostgreSQL tells every process when a SCIM token changes (definewtf.revocations).

Each process remembers the token rows it has read and reuses them until a notification on
`definewtf_credentials` says the tenant's tokens changed. A trigger, rather than the services,
sends it, so that every way of changing a token notifies: the services, the CLI, a tenant's
cascade, an operator's SQL. `UPDATE OF` leaves out `last_used_at`, which the request path
writes once a minute and which decides nothing. The notification is delivered when the
transaction commits, never for one that rolls back; PostgreSQL folds duplicates of one
transaction into one.

SQLite has no notifications; there every request reads its token's row.
"""

from definewtf.ddl import raw_migration

ID = "2026-11-29T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notify definewtf_credentials when a SCIM token changes (PostgreSQL)"

STATEMENTS = [
    """
CREATE OR REPLACE FUNCTION definewtf_scim_token_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('definewtf_credentials', '*');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('definewtf_credentials', OLD.tenant::text);
    ELSE
        PERFORM pg_notify('definewtf_credentials', OLD.tenant::text);
        PERFORM pg_notify('definewtf_credentials', NEW.tenant::text);
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE TRIGGER scim_token_changed
AFTER UPDATE OF revoked_at, expires_at, secret_hash, prefix, tenant OR DELETE ON scim_token
FOR EACH ROW EXECUTE FUNCTION definewtf_scim_token_changed()
""",
    """
CREATE TRIGGER scim_token_truncated
AFTER TRUNCATE ON scim_token
FOR EACH STATEMENT EXECUTE FUNCTION definewtf_scim_token_changed()
""",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, STATEMENTS, engines=("postgres",))
