"""The GraphQL admin API at `/graphql` (DESIGN.md §6), on the service layer."""

from graphql_api.controller import create_graphql_controller

__all__ = ["create_graphql_controller"]
