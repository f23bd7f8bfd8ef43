"""The domain's errors. Services raise these; each front door maps them once.

    DomainError
     ├── NotFound            the resource does not exist (or is not visible to this tenant)
     ├── Conflict            a uniqueness rule would be broken (carries the attribute)
     ├── PreconditionFailed  the caller's version (ETag) is stale
     ├── Invalid             the input breaks a rule (carries the attribute, if one)
     ├── Denied              the principal may not do this
     ├── Unauthenticated     no valid credential
     ├── Unavailable         a dependency (the database) is down; retry later
     └── RateLimited         too many requests; retry after `retry_after` seconds

No HTTP here: the SCIM facade maps these to status codes and scimTypes, the GraphQL API to
members of result unions.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    def __init__(self, resource: str, identifier: object = None) -> None:
        detail = (
            f"{resource} not found" if identifier is None else f"{resource} {identifier} not found"
        )
        super().__init__(detail)
        self.resource = resource
        self.identifier = identifier


class Conflict(DomainError):
    def __init__(self, resource: str, attribute: str, detail: str | None = None) -> None:
        super().__init__(detail or f"{resource} with this {attribute} already exists")
        self.resource = resource
        self.attribute = attribute


class PreconditionFailed(DomainError):
    pass


class Invalid(DomainError):
    def __init__(self, detail: str, *, attribute: str | None = None) -> None:
        super().__init__(detail)
        self.attribute = attribute


class Denied(DomainError):
    def __init__(self, detail: str = "not allowed") -> None:
        super().__init__(detail)


class Unauthenticated(DomainError):
    def __init__(self, detail: str = "authentication required") -> None:
        super().__init__(detail)


class Unavailable(DomainError):
    pass


class RateLimited(DomainError):
    def __init__(self, retry_after: int, detail: str = "too many requests") -> None:
        super().__init__(f"{detail}; retry after {retry_after} s")
        self.retry_after = max(1, retry_after)
