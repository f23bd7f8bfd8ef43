"""scim2-server's own ASGI application over its in-memory storage, as its documentation
serves it, with the static bearer-token check its `scim2-server` command does.

Run by `bench.peers` under uvicorn, in scim2-server's virtualenv, with one worker: each
process would have its own storage. `BENCH_PEER_TOKEN` is the token clients must send.
"""

from __future__ import annotations

import os
from typing import Any

from scim2_models import UnauthorizedException
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage
from scim2_server.requests import ScimRequest
from scim2_server.service import ScimService
from scim2_server.utils import load_default_provider


class BearerTokenASGIApplication(ASGIApplication):
    """`testserver.application.BearerTokenApplication`'s check, on the ASGI application."""

    def __init__(self, *args: Any, token: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token = token

    def check_auth(self, request: ScimRequest) -> None:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            raise UnauthorizedException


def create_app() -> BearerTokenASGIApplication:
    provider = load_default_provider()
    return BearerTokenASGIApplication(
        AsyncInMemoryStorage(),
        provider,
        ScimService(provider),
        token=os.environ["BENCH_PEER_TOKEN"],
    )
