"""Mounting the schema on Litestar."""

from __future__ import annotations

from typing import Any

from litestar import Controller
from strawberry.litestar import make_graphql_controller

from definewtf.settings import Settings
from graphql_api.context import provide_context
from graphql_api.schema import schema


def create_graphql_controller(settings: Settings) -> type[Controller]:
    controller: Any = make_graphql_controller(
        schema,
        path="/graphql",
        context_getter=provide_context,
        graphql_ide="graphiql" if settings.is_development else None,
        allow_queries_via_get=False,
    )
    return controller  # type: ignore[no-any-return]
