"""schemathesis against the SCIM routes (issue 7 §1): no generated request gets a 5xx, and
every 4xx is an RFC 7644 §3.12 error.

The OpenAPI document is made here, for this test only, from scim2-models' own pydantic models
(the same models the routes validate with) plus the RFC 7644 query parameters and headers.
Why not Litestar's generated document: the handlers read raw JSON (to accept the IdP dialects
of DESIGN.md §5) and query parameters by hand, so Litestar would describe no body and no
parameter, and there would be nothing to fuzz. Why not serve this document: SCIM clients
discover a service provider through `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`
(RFC 7644 §4), which the app serves from the same registry; a second, hand-kept description
for a public endpoint would only drift from them.

The app runs in process on schemathesis' own ASGI client (its own event loop and lifespan,
hence its own app instance); the tenant, token and targets are prepared before, on a third
app instance, through the services and plain HTTP.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from bad_input import ERROR, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA
from hypothesis import strategies as st
from pydantic.json_schema import models_json_schema
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from scim2_models import EnterpriseUser, Group, PatchOp, SearchRequest, User

from definewtf.app import create_app
from definewtf.principals import CLI_ACTOR
from definewtf.services import tenants, tokens
from definewtf.settings import Settings

BASE = "/api/scim"
HOST = "acme.localhost"


@dataclass(frozen=True)
class Targets:
    token: str
    user_id: str
    group_id: str


async def _prepare(settings: Settings) -> Targets:
    """The acme tenant, a SCIM token, one user in one group."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client,
    ):
        tenant = await tenants.create_tenant(slug="acme", name="Acme Corp", actor=CLI_ACTOR)
        issued = await tokens.generate_scim_token(
            tenant_id=tenant.id, actor=CLI_ACTOR, security=app.state.runtime.security
        )
        auth = {"Authorization": f"Bearer {issued.token}"}
        user = await client.post(
            f"{BASE}/Users",
            json={"schemas": [USER_SCHEMA], "userName": "t@acme.test"},
            headers=auth,
        )
        group = await client.post(
            f"{BASE}/Groups",
            json={
                "schemas": [GROUP_SCHEMA],
                "displayName": "Crew",
                "members": [{"value": user.json()["id"]}],
            },
            headers=auth,
        )
    return Targets(issued.token, user.json()["id"], group.json()["id"])


def _parameter(name: str, where: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema}


_STRING = {"type": "string"}
_LIST_PARAMETERS = [
    _parameter("filter", "query", _STRING),
    _parameter("startIndex", "query", {"type": "integer"}),
    _parameter("count", "query", {"type": "integer"}),
    _parameter("sortBy", "query", _STRING),
    _parameter("sortOrder", "query", {"enum": ["ascending", "descending"]}),
    _parameter("attributes", "query", _STRING),
    _parameter("excludedAttributes", "query", _STRING),
]
_PROJECTION = _LIST_PARAMETERS[-2:]
_IF_MATCH = _parameter("If-Match", "header", _STRING)
_BULK = {
    "type": "object",
    "required": ["schemas", "Operations"],
    "properties": {
        "schemas": {"type": "array", "items": _STRING},
        "failOnErrors": {"type": "integer"},
        "Operations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["method", "path"],
                "properties": {
                    "method": {"enum": ["POST", "PUT", "PATCH", "DELETE"]},
                    "path": _STRING,
                    "bulkId": _STRING,
                    "version": _STRING,
                    "data": {"type": "object"},
                },
            },
        },
    },
}


def _body(ref: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/scim+json": {"schema": {"$ref": ref}}},
    }


def _operation(
    parameters: list[dict[str, Any]], body: dict[str, Any] | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "parameters": parameters,
        "responses": {"default": {"description": "a SCIM resource, list or error"}},
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def openapi_document(targets: Targets) -> dict[str, Any]:
    """OpenAPI 3.1 for every SCIM route; a valid path id is a prepared target."""
    refs, schemas = models_json_schema(
        [
            (User[EnterpriseUser], "validation"),
            (Group, "validation"),
            (PatchOp[User[EnterpriseUser]], "validation"),
            (PatchOp[Group], "validation"),
            (SearchRequest, "validation"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    user_ref, group_ref, user_patch, group_patch, search = (ref["$ref"] for ref in refs.values())
    components = {**schemas["$defs"], "Bulk": _BULK}
    # What RFC 7643 requires and the models leave optional (they also serve responses and
    # PATCH values): without it nearly every "valid" body would be refused before any write.
    for ref, urn, required in [
        (user_ref, USER_SCHEMA, "userName"),
        (group_ref, GROUP_SCHEMA, "displayName"),
        (user_patch, PATCH_OP, "Operations"),
        (group_patch, PATCH_OP, "Operations"),
    ]:
        model = components[ref.rsplit("/", 1)[1]]
        model["properties"]["schemas"] = {"const": [urn]}
        model["required"] = ["schemas", required]
    paths: dict[str, Any] = {
        f"{BASE}/.search": {"post": _operation([], _body(search))},
        f"{BASE}/Bulk": {"post": _operation([], _body("#/components/schemas/Bulk"))},
        f"{BASE}/ServiceProviderConfig": {"get": _operation([])},
        f"{BASE}/ResourceTypes": {"get": _operation([])},
        f"{BASE}/Schemas": {"get": _operation([])},
        f"{BASE}/Schemas/{{schema_id}}": {
            "get": _operation([_parameter("schema_id", "path", _STRING)])
        },
    }
    for resource, ref, patch, target in [
        ("Users", user_ref, user_patch, targets.user_id),
        ("Groups", group_ref, group_patch, targets.group_id),
    ]:
        one = [_parameter("id", "path", {"enum": [target]})]  # negative cases: any other id
        paths[f"{BASE}/{resource}"] = {
            "get": _operation(_LIST_PARAMETERS),
            "post": _operation([], _body(ref)),
        }
        paths[f"{BASE}/{resource}/.search"] = {"post": _operation([], _body(search))}
        paths[f"{BASE}/{resource}/{{id}}"] = {
            "get": _operation([*one, *_PROJECTION, _parameter("If-None-Match", "header", _STRING)]),
            "put": _operation([*one, _IF_MATCH], _body(ref)),
            "patch": _operation([*one, _IF_MATCH], _body(patch)),
            "delete": _operation([*one, _IF_MATCH]),
        }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "define.wtf SCIM 2.0 (test description)", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }
    # As JSON text and back: pydantic leaves str-subclass keys (scim2-models' `URN`) that
    # schemathesis' schema canonicalizer refuses; a served document would be plain JSON too.
    loaded: dict[str, Any] = json.loads(json.dumps(document))
    return loaded


@pytest.fixture
def scim_targets(settings: Settings) -> Targets:
    return asyncio.run(_prepare(settings))


def scim_error_format(ctx: Any, response: Any, case: Any) -> None:
    """RFC 7644 §3.12: a 4xx carries the Error schema with `status` as a string."""
    if 400 <= response.status_code < 500:
        body = response.json()
        assert ERROR in body["schemas"], body
        assert body["status"] == str(response.status_code), body


# Cases drawn per operation (each gets its share), valid and invalid per the document.
# schemathesis' own `from_fixture(...).parametrize()` needs pytest's private `Item._nodeid`,
# which pytest 9 no longer has; its hypothesis strategies are the public way around that.
def test_no_generated_request_gets_a_server_error(
    settings: Settings, scim_targets: Targets
) -> None:
    schema = schemathesis.openapi.from_dict(openapi_document(scim_targets))
    schema.app = create_app(settings)  # served in process by schemathesis' ASGI transport
    headers = {"Host": HOST, "Authorization": f"Bearer {scim_targets.token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 20

    for operation in operations:

        @hypothesis.settings(max_examples=15)
        @hypothesis.given(st.one_of(operation.as_strategy(mode) for mode in GenerationMode))
        def call(case: Any) -> None:
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, scim_error_format])

        call()
