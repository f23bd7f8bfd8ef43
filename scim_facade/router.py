"""The SCIM router: one `Router(path="/api/scim")` with its dependencies and error mapping."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide

from scim_facade.context import SCIM_PATH, provide_scim_context
from scim_facade.errors import EXCEPTION_HANDLERS, http_exception_handler
from scim_facade.requests import MAX_BODY_BYTES, accept_internal_email_domains
from scim_facade.responses import negotiate_media_type
from scim_facade.routes import bulk, discovery, groups, root, users


def create_scim_router() -> Router:
    accept_internal_email_domains()
    return Router(
        path=SCIM_PATH,
        route_handlers=[
            *users.ROUTES,
            *groups.ROUTES,
            *bulk.ROUTES,
            *root.ROUTES,
            *discovery.ROUTES,
        ],
        # Bodies above this are refused with 413 before they are read in full.
        request_max_body_size=MAX_BODY_BYTES,
        dependencies={"scim": Provide(provide_scim_context)},
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[negotiate_media_type],
        include_in_schema=True,
    )


def scim_not_found_or_method(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[Any] | None:
    """Litestar's own 404/405 never reach router-level handlers; under `/api/scim` the app-level
    handler answers them as SCIM errors. Returns None elsewhere."""
    if request.url.path == SCIM_PATH or request.url.path.startswith(SCIM_PATH + "/"):
        return http_exception_handler(request, exc)
    return None
