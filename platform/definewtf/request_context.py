"""Per-request values that services may read without knowing the transport."""

from __future__ import annotations

from contextvars import ContextVar

#: Set by the HTTP layer for each request; audit events carry it.
request_id: ContextVar[str] = ContextVar("definewtf_request_id", default="")
