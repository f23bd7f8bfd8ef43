"""The Litestar app factory: the one place that knows both front doors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.logging.config import LoggingConfig
from prometheus_client import CONTENT_TYPE_LATEST

from definewtf.db import Database, is_unavailable
from definewtf.observability import Metrics, configure_logging, observe
from definewtf.security import Security
from definewtf.services.scim_activity import ActivityLog
from definewtf.services.tenants import TenantCache
from definewtf.settings import Settings
from definewtf.statistics import STATISTICS
from definewtf.web import Runtime, bearer_credential
from graphql_api import create_graphql_controller
from scim_facade import create_scim_router, scim_not_found_or_method

log = logging.getLogger("definewtf")


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    """Readiness: the database answers."""
    runtime: Runtime = request.app.state.runtime
    try:
        await runtime.database.ping()
    except Exception as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return Response({"status": "unavailable"}, status_code=503, headers={"Retry-After": "5"})
    return Response({"status": "ok"})


def _not_found_or_method(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    scim = scim_not_found_or_method(request, exc)
    if scim is not None:
        return scim
    assert isinstance(exc, HTTPException)
    return Response(
        {"status_code": exc.status_code, "detail": exc.detail}, status_code=exc.status_code
    )


def _http_error(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    return Response(
        {"status_code": exc.status_code, "detail": exc.detail},
        status_code=exc.status_code,
        headers=dict(exc.headers or {}),
    )


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_unavailable(exc):
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return Response(
            {"status_code": 503, "detail": "the database is unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"status_code": 500, "detail": "internal error"}, status_code=500)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus exposition. With `DEFINEWTF_METRICS_TOKEN` set, the scraper must send it as
    a Bearer token; without, only loopback clients are answered (per-tenant counts are not
    for the internet)."""
    runtime: Runtime = request.app.state.runtime
    expected = runtime.settings.metrics_token
    if expected is not None:
        given = bearer_credential(request.headers.get("authorization")) or ""
        allowed = hmac.compare_digest(given.encode(), expected.encode())
    else:
        allowed = request.client is not None and request.client.host in ("127.0.0.1", "::1")
    if not allowed:
        raise NotFoundException()
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _flush_activity_forever(runtime: Runtime) -> None:
    while True:
        await asyncio.sleep(runtime.settings.activity_flush_seconds)
        try:
            await runtime.activity.flush()
        except Exception:
            log.warning("could not flush SCIM activity; will retry", exc_info=True)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_format)
    database = Database(settings.database_url)
    runtime = Runtime(
        settings=settings,
        database=database,
        security=Security(settings),
        metrics=Metrics(),
        activity=ActivityLog(),
        tenants=TenantCache(),
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await database.start()
        await runtime.security.revocations.start(database.engine)
        flusher = asyncio.create_task(_flush_activity_forever(runtime))
        try:
            yield
        finally:
            flusher.cancel()
            await runtime.security.revocations.stop()
            with contextlib.suppress(Exception):
                await runtime.activity.flush()
            await STATISTICS.drain()  # an ANALYZE in flight ends before its connection closes
            await database.stop()

    app = Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            create_scim_router(),
            create_graphql_controller(settings),
        ],
        lifespan=[lifespan],
        state=State({"runtime": runtime}),
        exception_handlers={
            NotFoundException: _not_found_or_method,
            MethodNotAllowedException: _not_found_or_method,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        # Errors are logged by the handlers above (unexpected ones only), not by Litestar:
        # its "always" mode would log every expected 401/404 with a traceback.
        # Our handler on the root logger formats every line (definewtf.observability).
        logging_config=LoggingConfig(log_exceptions="never", configure_root_logger=False),
        openapi_config=None,
        debug=False,
    )
    # Around Litestar's whole handler (routing included), so that every request, matched or
    # not, gets an id, a log line and a count.
    app.asgi_handler = observe(app.asgi_handler, metrics=runtime.metrics, activity=runtime.activity)
    return app


#: `gc.set_threshold` of a served worker (`create_served_app`); Python's default is 700, 10, 10.
GC_THRESHOLDS = (7_000, 20, 20)


def create_served_app() -> Litestar:
    """The app `definewtf serve` runs in each worker (uvicorn's factory): `create_app`, then
    what start-up built (modules, schemas, routes) frozen out of the garbage collector's
    sight. Every full collection used to walk those 135,000 long-lived objects again: 2.4 s
    of a 100-user page run's CPU against 0.7 s with them frozen (gc.callbacks, one worker).

    The youngest generation is collected every 7,000 net allocations (`GC_THRESHOLDS`) instead
    of 700: a request allocates thousands of short-lived objects that reference counting
    frees anyway, and 16 requests in flight kept the collector walking live ones. Over the
    same PATCH, search and lookup load on one worker (gc.callbacks), collections took 1.3-1.4
    s of CPU, about 50 us a request, against 0.4-0.5 s with 7,000 and 20 / 20 for the older
    generations."""
    app = create_app()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app
