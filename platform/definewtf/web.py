"""What both front doors share about an HTTP request: the tenant from the Host header, the
credential from the Authorization header, and the per-process runtime they find on the app.

`{slug}.{base_domain}` names a tenant; the bare base domain is the platform (operators); any
other host is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from definewtf.db import Database
from definewtf.observability import Metrics
from definewtf.security import Security
from definewtf.services.scim_activity import ActivityLog
from definewtf.services.tenants import TenantCache
from definewtf.settings import Settings
from definewtf.text import is_dns_label


@dataclass(frozen=True, slots=True)
class HostScope:
    #: The tenant slug, or None for the platform host.
    slug: str | None


def scope_of_host(host: str | None, base_domain: str) -> HostScope | None:
    """None when the host belongs to neither a tenant nor the platform."""
    if not host:
        return None
    name = host.strip().lower()
    if name.startswith("["):  # IPv6 literal: never a tenant
        return None
    if ":" in name:
        name, _, port = name.rpartition(":")
        if not port.isdigit() or len(port) > 5:
            return None
    name = name.rstrip(".")
    base = base_domain.lower().rstrip(".")
    if name == base:
        return HostScope(slug=None)
    suffix = "." + base
    if not name.endswith(suffix):
        return None
    slug = name[: -len(suffix)]
    return HostScope(slug=slug) if is_dns_label(slug) else None


def bearer_credential(authorization: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <credential>` header (the scheme name is
    case-insensitive, RFC 7235 §2.1), or None when absent or malformed."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        return None
    return credential


@dataclass(frozen=True, slots=True)
class Runtime:
    """Per-process state of one app: built by `create_app`, kept in `app.state.runtime`."""

    settings: Settings
    database: Database
    security: Security
    metrics: Metrics
    activity: ActivityLog
    tenants: TenantCache
