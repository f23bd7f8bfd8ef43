"""The one mapping from errors to SCIM error responses (RFC 7644 §3.12), registered once.

Domain errors (from the services) map by type in `DOMAIN_ERRORS`; protocol errors raised by
the facade itself are scim2-models' `SCIMException`s, which carry their own status and
scimType. Anything else is a 500 with a generic body — never a traceback or a raw database
message — and is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap
from scim2_models import SCIMException

from definewtf import errors
from definewtf.db import is_unavailable
from scim_facade.responses import scim_error

log = logging.getLogger("definewtf.scim")

#: domain error → (HTTP status, scimType or None)
DOMAIN_ERRORS: dict[type[errors.DomainError], tuple[int, str | None]] = {
    errors.NotFound: (404, None),
    errors.Conflict: (409, "uniqueness"),
    errors.PreconditionFailed: (412, None),
    errors.Invalid: (400, "invalidValue"),
    errors.Denied: (403, None),
    errors.Unauthenticated: (401, None),
    errors.Unavailable: (503, None),
    errors.RateLimited: (429, None),
}

#: Sent with every 401, per RFC 6750 §3 and RFC 7644 §2.
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="SCIM"'}
RETRY_AFTER = {"Retry-After": "5"}


def status_and_type(exc: errors.DomainError) -> tuple[int, str | None]:
    for kind in type(exc).__mro__:
        if kind in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[kind]
    return 500, None


def domain_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, errors.DomainError)
    status, scim_type = status_and_type(exc)
    headers = WWW_AUTHENTICATE if status == 401 else RETRY_AFTER if status == 503 else None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return scim_error(status, exc.detail, scim_type, headers)


def scim_exception_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, SCIMException)
    return scim_error(exc.status, exc.detail, exc.scim_type or None)


def http_exception_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if exc.status_code < 500 else "internal error"
    return scim_error(exc.status_code, detail, None, dict(exc.headers or {}) or None)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_unavailable(exc):
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return scim_error(503, "the database is unavailable; retry shortly", None, RETRY_AFTER)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return scim_error(500, "internal error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    errors.DomainError: domain_error_handler,
    SCIMException: scim_exception_handler,
    HTTPException: http_exception_handler,
    Exception: unexpected_error_handler,
}
