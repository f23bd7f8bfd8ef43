"""Reading SCIM requests: JSON bodies, validation into scim2-models resources, list params."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

import email_validator
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
    SearchRequest,
)

from definewtf.errors import NotFound
from definewtf.text import is_storable

#: What we tolerate from IdPs (DESIGN.md §5): attributes we do not model are kept, Entra's
#: remove-with-value and add-to-unmatched-filter are honoured.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.keep,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)


def accept_internal_email_domains() -> None:
    """Let emails in internal domains through scim2-models' email syntax check.

    Customers' directories hold addresses like `jo@corp.local`, `svc@localhost` or, in IdP
    test tenants, `a@contoso.test`; email-validator refuses those as not globally deliverable
    (and special-use), which would fail the IdP's provisioning of that person. RFC 7643 §4.1.2
    only says SHOULD for RFC 5321 syntax; the shape of an address is still checked. This is a
    process-wide setting of email-validator, made when the SCIM router is built.
    """
    email_validator.GLOBALLY_DELIVERABLE = False
    email_validator.SPECIAL_USE_DOMAIN_NAMES = []


#: Request bodies above this get 413 (advertised as bulk.maxPayloadSize).
MAX_BODY_BYTES = 1_048_576
#: Media types a SCIM request body may declare (RFC 7644 §3.1; many clients send plain JSON).
JSON_MEDIA_TYPES = frozenset({"application/scim+json", "application/json"})

#: Advertised in ServiceProviderConfig as filter.maxResults.
MAX_COUNT = 1000
DEFAULT_COUNT = 100
#: A startIndex past every result answers an empty page (RFC 7644 §3.4.2.4); larger ones are
#: lowered to this, which both engines take as an OFFSET (a 64-bit integer).
MAX_START_INDEX = 2**62
#: Objects and arrays nested deeper than this are refused. SCIM resources nest four (resource,
#: extension, complex attribute, its list); deeper JSON is no SCIM and would only exhaust
#: recursion in validation and storage.
MAX_JSON_DEPTH = 32

R = TypeVar("R", bound=Resource[Any])


async def read_json(request: Request[Any, Any, Any]) -> dict[str, Any]:
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type and media_type not in JSON_MEDIA_TYPES:
        raise SCIMException.from_error(
            Error(status=415, detail="send application/scim+json (or application/json)")
        )
    raw = await request.body()
    try:
        payload = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
    except RecursionError as exc:
        raise InvalidSyntaxException(detail="the body nests too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise InvalidSyntaxException(detail=f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    _check_storable(payload)
    return payload


def _not_a_number(constant: str) -> Any:
    """Python's json accepts NaN and Infinity; RFC 8259 §6 and the databases do not."""
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400
        raise ValueError(f"{text[:20]} is out of range")
    return number


def _check_storable(payload: Any) -> None:
    """Refuse what no engine stores (NUL, lone surrogates, see `is_storable`) and nesting
    deeper than any SCIM resource, in keys and values alike. Iterative, so the walk cannot
    exhaust the recursion limit itself."""
    pending: list[tuple[Any, int]] = [(payload, 1)]  # (value, depth of its container)
    while pending:
        value, depth = pending.pop()
        if isinstance(value, (dict, list)) and depth > MAX_JSON_DEPTH:
            raise InvalidSyntaxException(detail=f"the body nests deeper than {MAX_JSON_DEPTH}")
        if isinstance(value, str):
            if not is_storable(value):
                raise InvalidValueException(detail="text must not contain NUL or lone surrogates")
        elif isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def wrap_single_values(payload: dict[str, Any], multi_valued: frozenset[str]) -> dict[str, Any]:
    """A multi-valued attribute sent as one object (OneLogin's `emails`) becomes a list of it."""
    return {
        key: [value] if key.lower() in multi_valued and isinstance(value, dict) else value
        for key, value in payload.items()
    }


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
class ListQuery:
    """What a list or search asks for (RFC 7644 §3.4.2, §3.4.3)."""

    filter: str | None
    sort_by: str | None
    descending: bool
    start_index: int
    count: int
    #: attributes / excludedAttributes, as scim2-models applies them to a dump.
    projection: SearchRequest[Any] | None


def _int_of(raw: Any, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidValueException(detail=f"{name} must be an integer")
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidValueException(detail=f"{name} must be an integer") from exc


def _list_of(raw: Any, name: str) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return raw
    raise InvalidValueException(detail=f"{name} must be a list of attribute names")


def list_query(params: dict[str, Any]) -> ListQuery:
    """From query parameters or a `SearchRequest` body. RFC 7644 §3.4.2.4: startIndex < 1
    means 1; a negative count means 0; a count above the maximum is lowered to it."""
    filter_ = params.get("filter")
    if filter_ is not None and not isinstance(filter_, str):
        raise InvalidValueException(detail="filter must be a string")
    sort_by = params.get("sortBy")
    if sort_by is not None and not isinstance(sort_by, str):
        raise InvalidValueException(detail="sortBy must be a string")
    order = params.get("sortOrder") or "ascending"
    if order not in ("ascending", "descending"):
        raise InvalidValueException(detail="sortOrder is ascending or descending")
    attributes = _list_of(params.get("attributes"), "attributes")
    excluded = _list_of(params.get("excludedAttributes"), "excludedAttributes")
    if attributes and excluded:
        raise InvalidValueException(detail="attributes and excludedAttributes exclude each other")
    projection: SearchRequest[Any] | None = None
    if attributes or excluded:
        try:
            projection = SearchRequest.model_validate(
                {"attributes": attributes or None, "excludedAttributes": excluded or None},
                scim_ctx=Context.SEARCH_REQUEST,
            )
        except ValidationError as exc:
            raise scim_error_of(exc) from exc
    return ListQuery(
        filter=filter_ or None,
        sort_by=sort_by or None,
        descending=order == "descending",
        start_index=min(
            MAX_START_INDEX, max(1, _int_of(params.get("startIndex"), "startIndex", 1))
        ),
        count=min(MAX_COUNT, max(0, _int_of(params.get("count"), "count", DEFAULT_COUNT))),
        projection=projection,
    )


def query_of_request(request: Request[Any, Any, Any]) -> ListQuery:
    return list_query(dict(request.query_params))


def resource_projection(request: Request[Any, Any, Any]) -> SearchRequest[Any] | None:
    """attributes / excludedAttributes of a single-resource request (RFC 7644 §3.9)."""
    return list_query(
        {k: request.query_params.get(k) for k in ("attributes", "excludedAttributes")}
    ).projection


def if_match_version(request: Request[Any, Any, Any], header: str = "if-match") -> int | None:
    """The version an `If-Match` (or `If-None-Match`) header names: `W/"3"` or `"3"` → 3.
    `*` means any version (None). A value that is no version of ours can match nothing."""
    raw = request.headers.get(header)
    if raw is None or raw.strip() == "*":
        return None
    tag = raw.strip().removeprefix("W/").strip('"')
    # isascii: str.isdigit() also holds for "²" (int() refuses it) and Arabic-Indic digits.
    return int(tag) if tag.isascii() and tag.isdigit() and len(tag) < 12 else -1


def resource_id(raw: str, resource: str) -> uuid.UUID:
    """A path id: not a UUID means no such resource (404), never a 400 or a 500."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(resource, None) from None
