"""Per-request values that services may read without knowing the transport."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from uuid import UUID


@dataclass(slots=True)
class RequestInfo:
    """What is known about the request being served, filled in as it is learnt (the tenant
    once the Host is resolved, the credential once verified) and read by the request log,
    the metrics and the SCIM activity when the response is sent."""

    id: str
    tenant_id: UUID | None = None
    tenant_slug: str | None = None
    #: The credential's public prefix (`scim_token:ab12…`), never the secret.
    credential: str | None = None
    #: The detail of an error response, for the SCIM provisioning status.
    error: str | None = None


_current: ContextVar[RequestInfo | None] = ContextVar("definewtf_request", default=None)


def begin(request_id: str) -> RequestInfo:
    info = RequestInfo(id=request_id)
    _current.set(info)
    return info


def current() -> RequestInfo | None:
    return _current.get()


def request_id() -> str:
    """The id of the request being served ("" outside a request: CLI, background tasks)."""
    info = _current.get()
    return "" if info is None else info.id


def note_tenant(tenant_id: UUID, slug: str) -> None:
    if (info := _current.get()) is not None:
        info.tenant_id, info.tenant_slug = tenant_id, slug


def note_credential(prefix: str | None) -> None:
    if (info := _current.get()) is not None:
        info.credential = prefix


def note_error(detail: str) -> None:
    if (info := _current.get()) is not None:
        info.error = detail
