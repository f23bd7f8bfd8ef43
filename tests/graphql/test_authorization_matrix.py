"""Who may run which mutation: every mutation of the schema x member, tenant admin and platform
operator (each case on a fresh database), plus anonymous callers. Authorization lives in the
services; this walks it through the real API.

A case names the typename the mutation answers with on success; `DENIED` where the principal
must be refused (and nothing written: the denied write is checked where it has an effect).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from definewtf.principals import CLI_ACTOR
from definewtf.services import api_keys, groups, roles, tokens

DENIED = "DeniedError"
MEMBER, ADMIN, OPERATOR = "member", "admin", "operator"


@dataclass(frozen=True)
class Case:
    query: str
    #: Success typename for each principal, or DENIED.
    member: str
    admin: str
    operator: str


def case(query: str, success: str, *, member: str = DENIED, admin: str | None = None) -> Case:
    return Case(query, member=member, admin=admin or success, operator=success)


CASES: dict[str, Case] = {
    "createTenant": case(
        'mutation { createTenant(slug: "newco") { __typename } }', "Tenant", admin=DENIED
    ),
    "updateTenant": case('mutation { updateTenant(name: "Acme 2") { __typename } }', "Tenant"),
    "createUser": case(
        'mutation { createUser(input: {userName: "n@x.test"}) { __typename } }', "User"
    ),
    "updateUser": case(
        'mutation($target: ID!) { updateUser(id: $target, input: {givenName: "G"}) '
        "{ __typename } }",
        "User",
    ),
    "updateUser (own name)": case(
        'mutation($self: ID!) { updateUser(id: $self, input: {givenName: "G"}) { __typename } }',
        "User",
        member="User",
    ),
    "deactivateUser": case(
        "mutation($target: ID!) { deactivateUser(id: $target) { __typename } }", "User"
    ),
    "reactivateUser": case(
        "mutation($target: ID!) { reactivateUser(id: $target) { __typename } }", "User"
    ),
    "setPassword": case(
        'mutation($target: ID!) { setPassword(userId: $target, password: "correct horse 1") '
        "{ __typename } }",
        "Done",
    ),
    "setPassword (own)": case(
        'mutation($self: ID!) { setPassword(userId: $self, password: "correct horse 1") '
        "{ __typename } }",
        "Done",
        member="Done",
    ),
    "createRole": case(
        'mutation { createRole(name: "R", permissions: []) { __typename } }', "Role"
    ),
    "updateRole": case(
        'mutation($role: ID!) { updateRole(id: $role, name: "R2") { __typename } }', "Role"
    ),
    "deleteRole": case("mutation($role: ID!) { deleteRole(id: $role) { __typename } }", "Done"),
    "assignRole": case(
        'mutation($target: ID!) { assignRole(userId: $target, role: "Editors") { __typename } }',
        "Done",
    ),
    "unassignRole": case(
        'mutation($granted: ID!) { unassignRole(userId: $granted, role: "Editors") '
        "{ __typename } }",
        "Done",
    ),
    "mapGroupToRole": case(
        'mutation($group: ID!) { mapGroupToRole(groupId: $group, role: "Editors") { __typename } }',
        "GroupRoleMapping",
    ),
    "unmapGroupToRole": case(
        'mutation($group: ID!) { unmapGroupToRole(groupId: $group, role: "Editors") '
        "{ __typename } }",
        "GroupRoleMapping",
    ),
    "generateScimToken": case(
        "mutation { generateScimToken(expiresInDays: 30) { __typename } }", "GeneratedScimToken"
    ),
    "revokeScimToken": case(
        "mutation($token: ID!) { revokeScimToken(id: $token) { __typename } }", "ScimToken"
    ),
    "createApiKey": case(
        'mutation($target: ID!) { createApiKey(name: "k", userId: $target) { __typename } }',
        "CreatedApiKey",
    ),
    # An operator's own user lives in the platform tenant, not in this one.
    "createApiKey (own)": Case(
        'mutation { createApiKey(name: "mine") { __typename } }',
        member="CreatedApiKey",
        admin="CreatedApiKey",
        operator="NotFoundError",
    ),
    "revokeApiKey": case("mutation($key: ID!) { revokeApiKey(id: $key) { __typename } }", "ApiKey"),
    "revokeApiKey (own)": case(
        "mutation($ownKey: ID!) { revokeApiKey(id: $ownKey) { __typename } }",
        "ApiKey",
        member="ApiKey",
    ),
    # Public: answers the same to everyone (a wrong password is no authorization question).
    "login": case(
        'mutation { login(email: "t@x.test", password: "wrong") { __typename } }',
        "LoginFailed",
        member="LoginFailed",
    ),
    "logout": case("mutation { logout { __typename } }", "Done", member="Done"),
}


@pytest.fixture
async def world(client, scim_auth, acme, admin_key, operator_key, member, security) -> dict:
    """Targets for every case: another user (with an API key and the Editors role), a group,
    a role, a SCIM token and the member's own key."""
    member_id, member_key = member
    target = (
        await client.post(
            "/api/scim/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "t@x.test",
            },
            headers=scim_auth,
        )
    ).json()["id"]
    group = await groups.create_group(
        tenant_id=acme.id, data=groups.GroupData(display_name="Eng"), actor=CLI_ACTOR
    )
    role = await roles.create_role(
        tenant_id=acme.id, name="Editors", permissions=[], description="", actor=CLI_ACTOR
    )
    await roles.assign_role(
        tenant_id=acme.id, user_id=uuid.UUID(target), role="Editors", actor=CLI_ACTOR
    )
    target_key = await api_keys.create_api_key(
        tenant_id=acme.id, user_id=uuid.UUID(target), name="t", actor=CLI_ACTOR, security=security
    )
    own_key = await api_keys.create_api_key(
        tenant_id=acme.id,
        user_id=uuid.UUID(member_id),
        name="own",
        actor=CLI_ACTOR,
        security=security,
    )
    token = await tokens.generate_scim_token(
        tenant_id=acme.id, actor=CLI_ACTOR, security=security, overlap_minutes=60
    )
    return {
        "keys": {MEMBER: member_key, ADMIN: admin_key, OPERATOR: operator_key},
        "variables": {
            "self": member_id,
            "target": target,
            "granted": target,
            "group": str(group.id),
            "role": str(role.id),
            "token": str(token.info.id),
            "key": str(target_key.id),
            "ownKey": str(own_key.id),
        },
    }


def _used(query: str, variables: dict) -> dict:
    return {name: value for name, value in variables.items() if f"${name}" in query}


@pytest.mark.parametrize("principal", [MEMBER, ADMIN, OPERATOR])
@pytest.mark.parametrize("name", sorted(CASES))
async def test_matrix(graphql, world, name: str, principal: str) -> None:
    entry = CASES[name]
    mutation = name.split(" ")[0]
    response = await graphql(
        world["keys"][principal], entry.query, _used(entry.query, world["variables"])
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"][mutation]["__typename"] == getattr(entry, principal), body


async def test_every_mutation_is_in_the_matrix(graphql, admin_key) -> None:
    schema = (await graphql(admin_key, "{ __schema { mutationType { fields { name } } } }")).json()
    names = {field["name"] for field in schema["data"]["__schema"]["mutationType"]["fields"]}
    assert names == {name.split(" ")[0] for name in CASES}


async def test_anonymous_callers_may_only_log_in(client, world) -> None:
    for name, entry in CASES.items():
        response = await client.post(
            "/graphql",
            json={"query": entry.query, "variables": _used(entry.query, world["variables"])},
        )
        body = response.json()
        if name == "login":
            assert body["data"]["login"]["__typename"] == "LoginFailed"
            continue
        assert body["data"] is None, name
        assert (
            "authentication required" in body["errors"][0]["message"]
            or "Bearer" in body["errors"][0]["message"]
        ), (name, body)


async def test_denied_writes_change_nothing(graphql, world, admin_key) -> None:
    """Spot checks that a refusal happens before the write, not after it."""
    member_key = world["keys"][MEMBER]
    target = world["variables"]["target"]
    for name in ("deactivateUser", "updateUser", "setPassword", "createApiKey", "revokeApiKey"):
        entry = CASES[name]
        await graphql(member_key, entry.query, _used(entry.query, world["variables"]))
    user = (
        await graphql(
            admin_key,
            "query($id: ID!) { user(id: $id) { ... on User { active givenName } } }",
            {"id": target},
        )
    ).json()["data"]["user"]
    assert user == {"active": True, "givenName": None}
    keys = (await graphql(admin_key, "{ apiKeys { userId name revokedAt } }")).json()["data"]
    of_target = [k for k in keys["apiKeys"] if k["userId"] == target]
    assert [(k["name"], k["revokedAt"]) for k in of_target] == [("t", None)]
