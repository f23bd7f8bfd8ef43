"""Reading SCIM requests: JSON bodies, validation into scim2-models resources, list params."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Request
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    Resource,
    SCIMException,
    ScimPolicy,
)

#: What we tolerate from IdPs (DESIGN.md §5): attributes we do not model are kept, Entra's
#: remove-with-value and add-to-unmatched-filter are honoured.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.keep,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

#: Advertised in ServiceProviderConfig as filter.maxResults.
MAX_COUNT = 1000
DEFAULT_COUNT = 100

R = TypeVar("R", bound=Resource[Any])


async def read_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSyntaxException(detail=f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    return payload


def validate(model: type[R], payload: dict[str, Any], context: Context) -> R:
    try:
        return model.model_validate(payload, scim_ctx=context, scim_policy=POLICY)
    except ValidationError as exc:
        raise scim_error_of(exc) from exc


def scim_error_of(exc: ValidationError) -> SCIMException:
    """The SCIM error a pydantic validation error stands for (its scimType kept: invalidValue,
    invalidSyntax, mutability, invalidPath, noTarget…), with the attribute it is about."""
    first = exc.errors()[0]
    error = Error.from_validation_error(first)
    location = ".".join(str(part) for part in first.get("loc", ()))
    detail = f"{location}: {error.detail}" if location else str(error.detail)
    return SCIMException.from_error(
        Error(status=error.status or 400, scim_type=error.scim_type, detail=detail)
    )


@dataclass(frozen=True, slots=True)
class ListParams:
    filter: str | None
    start_index: int
    count: int


def _int_param(request: Request[Any, Any, Any], name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidValueException(detail=f"{name} must be an integer") from exc


def list_params(request: Request[Any, Any, Any]) -> ListParams:
    """RFC 7644 §3.4.2.4: startIndex < 1 means 1; a negative count means 0; a count above
    the maximum is lowered to it."""
    start_index = max(1, _int_param(request, "startIndex", 1))
    count = min(MAX_COUNT, max(0, _int_param(request, "count", DEFAULT_COUNT)))
    return ListParams(
        filter=request.query_params.get("filter"), start_index=start_index, count=count
    )


def if_match_version(request: Request[Any, Any, Any], header: str = "if-match") -> int | None:
    """The version an `If-Match` (or `If-None-Match`) header names: `W/"3"` or `"3"` → 3.
    `*` means any version (None). A value that is no version of ours can match nothing."""
    raw = request.headers.get(header)
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() and len(tag) < 12 else -1
