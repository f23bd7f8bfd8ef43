"""Who is acting: the principal every service call receives as `actor`.

Permissions are plain strings carried by roles (DESIGN.md §4). The services decide what a
principal may do (`require_*`); the facades only establish who it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from definewtf.errors import Denied

PLATFORM_OPERATOR = "platform:operator"
TENANT_ADMIN = "tenant:admin"
SCIM_PROVISION = "scim:provision"

ActorKind = Literal["user", "api_key", "session", "scim_token", "cli", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    #: The tenant the credential belongs to (None for the CLI and the system).
    tenant_id: UUID | None
    label: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    user_id: UUID | None = None
    credential_id: UUID | None = None
    #: The credential's public lookup prefix, for logs (`api_key:AbC123…`); never the secret.
    credential_prefix: str | None = None

    @property
    def is_operator(self) -> bool:
        return PLATFORM_OPERATOR in self.permissions

    def has(self, permission: str, tenant_id: UUID) -> bool:
        """Operators hold every permission everywhere; others only in their own tenant."""
        if self.is_operator:
            return True
        return self.tenant_id == tenant_id and permission in self.permissions


#: The `definewtf` command runs with the operator's powers of whoever can run it on the host.
CLI_ACTOR = Actor(
    kind="cli", tenant_id=None, label="cli", permissions=frozenset({PLATFORM_OPERATOR})
)


def require_operator(actor: Actor) -> None:
    if not actor.is_operator:
        raise Denied("only platform operators may do this")


def require_admin(actor: Actor, tenant_id: UUID) -> None:
    if not actor.has(TENANT_ADMIN, tenant_id):
        raise Denied("only an admin of this tenant may do this")


def require_any(actor: Actor, tenant_id: UUID, *permissions: str) -> None:
    if not any(actor.has(permission, tenant_id) for permission in permissions):
        raise Denied("not allowed in this tenant")
