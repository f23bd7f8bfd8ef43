"""The ceiling: what Litestar under uvicorn serves on this machine when a request does (almost)
nothing. Started by `bench.ceiling` with the server's own uvicorn settings:

- `GET /api/scim/bare`: a small JSON document, no I/O;
- `GET /api/scim/Users?filter=userName eq "…"`: one indexed asyncpg query against the
  benchmark's database (`SELECT id FROM app_user WHERE tenant = $1 AND user_name_ci = $2`)
  through a pool made at startup, answered as a one-resource ListResponse — the request the
  lookup phase measures, minus everything but the query (no auth, no tenant lookup, no
  mapping).
- `PATCH /api/scim/Users/{id}`: the update phase's PATCH (replace `name.givenName` and
  `title`) as one durable write and nothing else: the body parsed, one `UPDATE` of the user's
  row by its primary key in autocommit (PostgreSQL flushes its WAL at the commit, as for ours),
  the new version answered. No auth, no lock, no audit event, no searchable values, no
  resource rendered. Whatever stores a PATCH durably on PostgreSQL behind Litestar does at
  least this, so its rate bounds every such server's (ours included) on this machine.
- `PATCH /api/scim/audited/Users/{id}`: the same PATCH made safe the way ours was made until
  21190a9, and nothing else: in one transaction, the user's row read and locked (no lost
  update), then one statement updating it at the version read and inserting its audit event
  (what changed, before and after). Ours now reads without the lock and writes at the
  version read (locking only after a lost race), and adds authentication, the searchable
  values, the permission checks and the resource it answers.

Configuration from the environment: `BENCH_CEILING_DATABASE_URL` (PostgreSQL; without it only
the bare endpoint is served) and `BENCH_CEILING_SLUG` (the tenant, resolved once at startup).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Litestar, Request, Response, get, patch

#: The server's own pool size (definewtf.db), so both have the same connections to wait on.
POOL_MIN, POOL_MAX = 2, 20
_USER_NAME_EQ = re.compile(r'^userName eq "(.*)"$')
_QUERY = "SELECT id FROM app_user WHERE tenant = $1 AND user_name_ci = $2"
_UPDATE = (
    "UPDATE app_user SET given_name = $3, attributes = jsonb_set(attributes, '{title}', $4),"
    " version = version + 1, updated_at = now() WHERE id = $2 AND tenant = $1 RETURNING version"
)
_LOCK = (
    "SELECT version, given_name, attributes->'title' AS title FROM app_user"
    " WHERE tenant = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE"
)
_UPDATE_AUDITED = (
    "WITH written AS (UPDATE app_user SET given_name = $3,"
    " attributes = jsonb_set(attributes, '{title}', $4), version = version + 1,"
    " updated_at = now() WHERE id = $2 AND tenant = $1 AND version = $5 RETURNING version)"
    " INSERT INTO audit_event (id, tenant, occurred_at, actor_type, actor_label, action,"
    " target_type, target_id, before, after, request_id)"
    " SELECT gen_random_uuid(), $1, now(), 'scim_token', 'ceiling', 'user.update', 'user',"
    " $2::text, $6, $7, '' FROM written RETURNING (SELECT version FROM written)"
)


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/api/scim/bare", sync_to_thread=False)
def bare() -> dict[str, str]:
    return {"status": "ok"}


@get("/api/scim/Users")
async def users(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    match = _USER_NAME_EQ.match(request.query_params.get("filter", ""))
    if match is None:
        return Response({"detail": "only userName eq"}, status_code=400)
    state = request.app.state
    async with state.pool.acquire() as conn:
        found = await conn.fetchval(_QUERY, state.tenant, match[1].casefold())
    resources = [] if found is None else [{"id": str(found)}]
    return Response({"totalResults": len(resources), "Resources": resources})


async def _assignments(request: Request[Any, Any, Any]) -> tuple[str, str]:
    """The update phase's PATCH: the new given name, and the title as JSON text."""
    values = {op["path"]: op["value"] for op in (await request.json())["Operations"]}
    return values["name.givenName"], json.dumps(values["title"])


def _written(user_id: UUID, version: int | None) -> Response[dict[str, Any]]:
    if version is None:
        return Response({"detail": "no such user"}, status_code=404)
    return Response({"id": str(user_id), "meta": {"version": f'W/"{version}"'}})


@patch("/api/scim/Users/{user_id:uuid}")
async def patch_user(request: Request[Any, Any, Any], user_id: UUID) -> Response[dict[str, Any]]:
    given_name, title = await _assignments(request)
    state = request.app.state
    async with state.pool.acquire() as conn:
        version = await conn.fetchval(_UPDATE, state.tenant, user_id, given_name, title)
    return _written(user_id, version)


@patch("/api/scim/audited/Users/{user_id:uuid}")
async def patch_user_audited(
    request: Request[Any, Any, Any], user_id: UUID
) -> Response[dict[str, Any]]:
    given_name, title = await _assignments(request)
    state = request.app.state
    async with state.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_LOCK, state.tenant, user_id)
        if row is None:
            return _written(user_id, None)
        before = {"name.givenName": row["given_name"], "title": row["title"]}
        after = {"name.givenName": given_name, "title": title}
        version = await conn.fetchval(
            _UPDATE_AUDITED,
            *(state.tenant, user_id, given_name, title, row["version"]),
            *(json.dumps(before), json.dumps(after)),
        )
    return _written(user_id, version)


def create_app() -> Litestar:
    database_url = os.environ.get("BENCH_CEILING_DATABASE_URL")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if database_url is None:
            yield
            return
        pool = await asyncpg.create_pool(database_url, min_size=POOL_MIN, max_size=POOL_MAX)
        try:
            app.state.pool = pool
            app.state.tenant = await pool.fetchval(
                "SELECT id FROM tenant WHERE slug = $1", os.environ.get("BENCH_CEILING_SLUG")
            )
            yield
        finally:
            await pool.close()

    handlers = [healthz, bare]
    if database_url is not None:
        handlers += [users, patch_user, patch_user_audited]
    return Litestar(route_handlers=handlers, lifespan=[lifespan])
