"""The ceiling: what Litestar under uvicorn serves on this machine when a request does (almost)
nothing. Started by `bench.ceiling` with the server's own uvicorn settings:

- `GET /api/scim/bare`: a small JSON document, no I/O;
- `GET /api/scim/Users?filter=userName eq "…"`: one indexed asyncpg query against the
  benchmark's database (`SELECT id FROM app_user WHERE tenant = $1 AND user_name_ci = $2`)
  through a pool made at startup, answered as a one-resource ListResponse — the request the
  lookup phase measures, minus everything but the query (no auth, no tenant lookup, no
  mapping).

Configuration from the environment: `BENCH_CEILING_DATABASE_URL` (PostgreSQL; without it only
the bare endpoint is served) and `BENCH_CEILING_SLUG` (the tenant, resolved once at startup).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Request, Response, get

#: The server's own pool size (definewtf.db), so both have the same connections to wait on.
POOL_MIN, POOL_MAX = 2, 20
_USER_NAME_EQ = re.compile(r'^userName eq "(.*)"$')
_QUERY = "SELECT id FROM app_user WHERE tenant = $1 AND user_name_ci = $2"


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

    handlers = [healthz, bare] if database_url is None else [healthz, bare, users]
    return Litestar(route_handlers=handlers, lifespan=[lifespan])
