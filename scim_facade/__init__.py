"""RFC 7644 over HTTP: the SCIM 2.0 service provider at `/api/scim` on each tenant's host."""

from scim_facade.router import create_scim_router, scim_not_found_or_method

__all__ = ["create_scim_router", "scim_not_found_or_method"]
