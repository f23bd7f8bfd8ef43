"""The Litestar app factory: the one place that knows both front doors."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException
from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from definewtf.db import Database
from definewtf.request_context import request_id
from definewtf.security import Security
from definewtf.settings import Settings
from definewtf.web import Runtime
from graphql_api import create_graphql_controller
from scim_facade import create_scim_router, scim_not_found_or_method

log = logging.getLogger("definewtf")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (the client's `X-Request-ID` if well-formed), visible to
    services (audit) and returned in the response header."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = rid
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)

    return middleware


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
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"status_code": 500, "detail": "internal error"}, status_code=500)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    database = Database(settings.database_url)
    runtime = Runtime(settings=settings, database=database, security=Security(settings))

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await database.start()
        try:
            yield
        finally:
            await database.stop()

    return Litestar(
        route_handlers=[healthz, readyz, create_scim_router(), create_graphql_controller(settings)],
        lifespan=[lifespan],
        state=State({"runtime": runtime}),
        middleware=[request_id_middleware],
        exception_handlers={
            NotFoundException: _not_found_or_method,
            MethodNotAllowedException: _not_found_or_method,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        # Errors are logged by the handlers above (unexpected ones only), not by Litestar:
        # its "always" mode would log every expected 401/404 with a traceback.
        logging_config=LoggingConfig(log_exceptions="never"),
        openapi_config=None,
        debug=False,
    )
