"""Service provider discovery (RFC 7644 §4): what this server supports, advertised truthfully
and served from the same registry the code uses."""

from __future__ import annotations

import functools
from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Meta,
    Patch,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
)

from definewtf.errors import NotFound
from definewtf.registry import RESOURCE_TYPES, SCHEMAS
from scim_facade.context import ScimContext
from scim_facade.requests import MAX_COUNT
from scim_facade.responses import list_body, scim_response
from scim_facade.routes.bulk import MAX_OPERATIONS, MAX_PAYLOAD_BYTES

DUMP = Context.RESOURCE_QUERY_RESPONSE


def service_provider_config(base_url: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(
            supported=True, max_operations=MAX_OPERATIONS, max_payload_size=MAX_PAYLOAD_BYTES
        ),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=True),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="The tenant's SCIM token (Settings → SCIM Provisioning), sent as "
                "`Authorization: Bearer <token>`.",
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig",
            location=f"{base_url}/ServiceProviderConfig",
        ),
    )


@functools.lru_cache(maxsize=1024)
def _provider_config_body(base_url: str) -> dict[str, Any]:
    """Rendered once per tenant URL: it never changes, and IdPs' "Test Connection" and some
    clients' health checks fetch it; rendering it was a sixth of the request (py-spy)."""
    return service_provider_config(base_url).model_dump(scim_ctx=DUMP)


@get("/ServiceProviderConfig")
async def get_service_provider_config(scim: NamedDependency[ScimContext]) -> Response[Any]:
    return scim_response(_provider_config_body(scim.base_url))


def _resource_type(scim: ScimContext, resource_type: ResourceType) -> dict[str, Any]:
    located = resource_type.model_copy(
        update={
            "meta": Meta(
                resource_type="ResourceType",
                location=f"{scim.base_url}/ResourceTypes/{resource_type.id}",
            )
        }
    )
    return located.model_dump(scim_ctx=DUMP)


def _schema(scim: ScimContext, schema: Schema) -> dict[str, Any]:
    located = schema.model_copy(
        update={
            "meta": Meta(resource_type="Schema", location=f"{scim.base_url}/Schemas/{schema.id}")
        }
    )
    return located.model_dump(scim_ctx=DUMP)


def _list(resources: list[dict[str, Any]]) -> Response[Any]:
    return scim_response(list_body(resources, total=len(resources)))


@get("/ResourceTypes")
async def list_resource_types(scim: NamedDependency[ScimContext]) -> Response[Any]:
    return _list([_resource_type(scim, rt) for rt in RESOURCE_TYPES])


@get("/ResourceTypes/{type_id:str}")
async def get_resource_type(
    type_id: FromPath[str], scim: NamedDependency[ScimContext]
) -> Response[Any]:
    for resource_type in RESOURCE_TYPES:
        if resource_type.id == type_id:
            return scim_response(_resource_type(scim, resource_type))
    raise NotFound("ResourceType", type_id)


@get("/Schemas")
async def list_schemas(scim: NamedDependency[ScimContext]) -> Response[Any]:
    return _list([_schema(scim, schema) for schema in SCHEMAS])


@get("/Schemas/{schema_id:str}")
async def get_schema(schema_id: FromPath[str], scim: NamedDependency[ScimContext]) -> Response[Any]:
    for schema in SCHEMAS:
        if schema.id == schema_id:
            return scim_response(_schema(scim, schema))
    raise NotFound("Schema", schema_id)


ROUTES = [
    get_service_provider_config,
    list_resource_types,
    get_resource_type,
    list_schemas,
    get_schema,
]
