"""Expected failures as members of result unions, mapped from domain errors once.

Each mutation's return type is a union of its success type and the error types it can
produce; strawberry's exception handlers turn a raised domain error into the matching member.
Unauthenticated and Unavailable stay GraphQL errors (they are not about the operation's input).
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from definewtf import errors


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
