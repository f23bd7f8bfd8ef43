"""Expected failures as members of result unions, mapped from domain errors once.

Each mutation's return type is a union of its success type and the error types it can
produce; strawberry's exception handlers turn a raised domain error into the matching member.
Unauthenticated and Unavailable stay GraphQL errors (they are not about the operation's input).
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError, VariableDefinitionNode, print_ast
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext, Info

from definewtf import errors
from definewtf.db import is_unavailable
from definewtf.request_context import request_id

log = logging.getLogger(__name__)


@strawberry.type
class NotFoundError:
    message: str
    resource: str


@strawberry.type
class ConflictError:
    message: str
    #: Nullable like `InvalidError.field`: a client selecting `field` on both members of one
    #: result union must get the same type, or the query fails validation.
    field: str | None


@strawberry.type
class InvalidError:
    message: str
    field: str | None


@strawberry.type
class DeniedError:
    message: str


class NotFoundHandler(strawberry.ExceptionHandler[errors.NotFound, NotFoundError]):
    def handle(
        self, exception: errors.NotFound, *, field: Any, info: Info[Any, Any]
    ) -> NotFoundError:
        return NotFoundError(message=exception.detail, resource=exception.resource)


class ConflictHandler(strawberry.ExceptionHandler[errors.Conflict, ConflictError]):
    def handle(
        self, exception: errors.Conflict, *, field: Any, info: Info[Any, Any]
    ) -> ConflictError:
        return ConflictError(message=exception.detail, field=exception.attribute)


class InvalidHandler(strawberry.ExceptionHandler[errors.Invalid, InvalidError]):
    def handle(
        self, exception: errors.Invalid, *, field: Any, info: Info[Any, Any]
    ) -> InvalidError:
        return InvalidError(message=exception.detail, field=exception.attribute)


class DeniedHandler(strawberry.ExceptionHandler[errors.Denied, DeniedError]):
    def handle(self, exception: errors.Denied, *, field: Any, info: Info[Any, Any]) -> DeniedError:
        return DeniedError(message=exception.detail)


EXCEPTION_HANDLERS: list[strawberry.ExceptionHandler[Any, Any]] = [
    NotFoundHandler(),
    ConflictHandler(),
    InvalidHandler(),
    DeniedHandler(),
]


def is_unexpected(error: GraphQLError) -> bool:
    """A bug or an outage, not a readable validation, limit or domain error: those have no
    original error (GraphQL validation) or a domain one (raised on purpose), or are a
    variable's value that GraphQL could not coerce (the client's mistake)."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, errors.DomainError)
        and not _is_bad_variable(error)
    )


def _is_bad_variable(error: GraphQLError) -> bool:
    """GraphQL refused a variable's value. graphql-core's message quotes the value, which may
    be a password (`createUser(input: $input)` with a misspelt field): answered without it."""
    return error.original_error is not None and any(
        isinstance(node, VariableDefinitionNode) for node in error.nodes or ()
    )


def _is_outage(error: GraphQLError) -> bool:
    return error.original_error is not None and is_unavailable(error.original_error)


class MaskUnexpectedErrors(MaskErrors):
    """Clients see "internal error" and the request id, never the exception's text (it may
    hold SQL, values or paths); the log line with the same request id holds the traceback."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=lambda e: is_unexpected(e) or _is_outage(e) or _is_bad_variable(e)
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        rid = request_id()
        if _is_outage(error):
            message, code = "the database is unavailable; retry shortly", "UNAVAILABLE"
        elif _is_bad_variable(error):
            [node] = [n for n in error.nodes or () if isinstance(n, VariableDefinitionNode)]
            name, kind = node.variable.name.value, print_ast(node.type)
            message, code = f"Variable '${name}' got an invalid value for {kind}", "BAD_USER_INPUT"
        else:
            message, code = f"internal error (request id {rid})", "INTERNAL"
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": code, "requestId": rid},
        )


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected errors with their traceback (the request id rides on every log
        record); expected ones are the client's business and are not logged."""
        for error in errors:
            if _is_outage(error):
                log.warning("database unavailable: %r", error.original_error)
            elif is_unexpected(error):
                log.error(
                    "unexpected error at %s",
                    ".".join(str(p) for p in error.path or ()) or "(operation)",
                    exc_info=error.original_error,
                )
