"""RFC 7643/7644 conformance of `/api/scim`, checked by the public tool scim2-tester.

scim2-tester (https://scim2-tester.readthedocs.io) drives a scim2-client client against a real
server: a uvicorn subprocess on the test database, addressed to the `acme` tenant with its SCIM
token. On the discovery endpoints it reads /ServiceProviderConfig, /ResourceTypes and /Schemas
(each by id too, unknown ids, refused methods); on Users (with the enterprise extension) it
creates, reads, lists, projects (`attributes`/`excludedAttributes`, also through POST
`/.search`), replaces (with `If-Match`, since we declare ETags), deletes and PATCHes (add,
remove, replace, one attribute at a time); and it reads an unknown URL.

The User checks run twice: with the client told what we serve (scim2-models' own User,
EnterpriseUser and ResourceType objects, and our capabilities), and with the client told
nothing, so that it builds the model it checks from what our discovery endpoints publish.

Groups and Bulk are not served yet: User is the only resource type and bulk is declared
unsupported, so scim2-tester has no Group or Bulk check to run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from scim2_client import BaseSyncSCIMClient
from scim2_models import (
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Filter,
    Patch,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)
from scim2_tester import CheckResult, Status, check_server

from scim_facade.requests import MAX_COUNT

#: What the server serves and declares (as /ServiceProviderConfig publishes it).
PROVIDER = ScimProvider(
    models=[User, EnterpriseUser],
    resource_types=[ResourceType.from_resource(User[EnterpriseUser])],
    config=ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=True),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
    ),
)

#: Every check scim2-tester 0.5.2 has for a server serving Users only; each must report at
#: least one success (a tester upgrade that silently skipped them would not pass vacuously).
USER_CHECKS = {
    "service_provider_config_endpoint",
    "service_provider_config_endpoint_methods",
    "query_all_resource_types",
    "query_resource_type_by_id",
    "resource_types_schema_validation",
    "access_invalid_resource_type",
    "resource_types_endpoint_methods",
    "query_all_schemas",
    "access_schema_by_id",
    "access_invalid_schema",
    "schemas_endpoint_methods",
    "random_url",
    "object_creation",
    "object_query",
    "object_query_without_id",
    "object_query_with_attributes",
    "object_list_with_attributes",
    "search_with_attributes",
    "object_replacement",
    "object_deletion",
    "check_add_attribute",
    "check_remove_attribute",
    "check_replace_attribute",
}

#: Known server bugs, as (check, attribute): left out of the main test while they are open.
KNOWN_FAILURES: set[tuple[str, str]] = set()


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client over `httpx.Client`: scim2-client 0.13 ships engines for httpx2, WSGI and
    ASGI only, and this suite uses httpx. Requests are relative to the client's base URL."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url, **kwargs)


@pytest.fixture
def server(uvicorn_server: str) -> str:
    return uvicorn_server


Checks = Callable[..., Awaitable[tuple[list[CheckResult], ScimProvider]]]


@pytest.fixture
def run_checks(server: str, scim_token: str) -> Checks:
    """Run scim2-tester's checks on Users (in a worker thread: the tester is synchronous).

    Returns the results and the description of the server the client ended with (the one it
    was given, or else what it composed from the discovery endpoints).
    """

    async def run(
        provider: ScimProvider | None, **options: Any
    ) -> tuple[list[CheckResult], ScimProvider]:
        def checks() -> tuple[list[CheckResult], ScimProvider]:
            with httpx.Client(
                base_url=f"{server}/api/scim",
                headers={"Host": "acme.localhost", "Authorization": f"Bearer {scim_token}"},
                timeout=30,
            ) as http:
                client = HttpxSCIMClient(http, provider=provider)
                results = check_server(client, resource_types=["User"], **options)
                return results, client.provider

        return await anyio.to_thread.run_sync(checks)

    return run


def _attribute(result: CheckResult) -> str | None:
    return result.data.get("urn") if isinstance(result.data, dict) else None


def _selected(result: CheckResult) -> bool:
    """Not skipped by tag selection (any other skip is a failure: nothing was checked)."""
    return not (
        result.status is Status.SKIPPED and (result.reason or "").startswith("Skipped due to tag")
    )


def _describe(results: list[CheckResult]) -> str:
    return "\n".join(
        f"- {r.title} [{r.status.name}] {r.reason}\n    data: {r.data!r:.1500}" for r in results
    )


def _assert_all_succeed(results: list[CheckResult], expected: set[str]) -> None:
    failures = [r for r in results if r.status is not Status.SUCCESS]
    assert not failures, f"{len(failures)} scim2-tester check(s) failed:\n{_describe(failures)}"
    missing = expected - {r.title for r in results}
    assert not missing, f"scim2-tester ran none of {sorted(missing)}"


@pytest.mark.parametrize("provider", [PROVIDER, None], ids=["described", "discovered"])
async def test_users_conform_to_rfc_7644(run_checks: Checks, provider: ScimProvider | None) -> None:
    """`described`: the client is told what we serve. `discovered`: it is told nothing, and
    checks the model it composed from our /Schemas, /ResourceTypes and /ServiceProviderConfig."""
    results, described = await run_checks(provider)
    selected = [
        r for r in results if _selected(r) and (r.title, _attribute(r)) not in KNOWN_FAILURES
    ]
    _assert_all_succeed(selected, USER_CHECKS)
    [users] = [rt for rt in described.resource_types or [] if rt.name == "User"]
    assert [e.schema_ for e in users.schema_extensions or []] == [EnterpriseUser.__schema__]
    assert described.config is not None
    assert described.config.patch.supported
