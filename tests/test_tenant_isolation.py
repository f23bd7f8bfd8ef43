"""Tenant isolation (DESIGN.md §4, issue 7 item 6): nothing tenant A's credentials can send
returns or changes anything of tenant B, nor tells B's data apart from data that does not exist.

A is acme (its SCIM token, its admin's API key), B is globex, filled with a user (password,
API key, role), a group holding that user, a custom role and a SCIM token. Every SCIM route and
every GraphQL field is walked twice:

1. on B's host with A's credential: 401, no data, nothing of B in the body;
2. on A's own host naming B's ids and names: the answer (status and body) is exactly the one a
   fresh random id or name gets, once the id or name itself is replaced by its variable name.

Each case checks that B's rows (every table that carries a tenant) are the same before and
after. The case tables name each route (SCIM) and field (GraphQL) once at least; a route or
field added later without a case makes `test_every_*_has_a_case` fail. Variables are written
`$name`: `$user`, `$group`, `$role`, `$token`, `$key` are B's ids, `$userName`, `$groupName`,
`$roleName`, `$email`, `$password`, `$slug` B's names and secrets; `$ownUser` and `$ownGroup`
are A's own (the same in both runs).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from definewtf.principals import CLI_ACTOR
from definewtf.security import Security
from definewtf.services import api_keys, roles, tokens
from definewtf.services.tenants import TenantRecord
from definewtf.tables import ALL_TABLES, AuditEvent, ScimActivity, Tenant

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
B_HOST = "globex.localhost"
B_PASSWORD = "globex bob's password"
_VARIABLE = re.compile(r"\$(\w+)")


# -- the SCIM cases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scim:
    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def op(name: str, path: str, value: Any = None) -> dict[str, Any]:
    """A PatchOp of one operation."""
    return patch({"op": name, "path": path} | ({} if value is None else {"value": value}))


def search(filter_: str) -> dict[str, Any]:
    return {"schemas": [SEARCH], "filter": filter_}


def bulk_op(method: str, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"method": method, "path": path, "bulkId": path, **({"data": data} if data else {})}


B_USER_AS_MEMBER = {"members": [{"value": "$user"}]}
ADD_B_USER = op("add", "members", [{"value": "$user"}])
SPIES = {"schemas": [GROUP], "displayName": "Spies", **B_USER_AS_MEMBER}
SCIM_CASES: list[Scim] = [
    # The resources of B, by id.
    Scim("GET", "/Users/$user"),
    Scim("GET", "/Users/$user", params={"attributes": "userName"}),
    Scim("PUT", "/Users/$user", {"schemas": [USER], "userName": "taken@acme.test"}),
    Scim("PATCH", "/Users/$user", patch({"op": "replace", "value": {"active": False}})),
    Scim("DELETE", "/Users/$user"),
    Scim("GET", "/Groups/$group"),
    Scim("PUT", "/Groups/$group", {"schemas": [GROUP], "displayName": "Mine now"}),
    Scim("PATCH", "/Groups/$group", op("add", "members", [])),
    Scim("DELETE", "/Groups/$group"),
    # A's own groups, naming B's user as a member.
    Scim("POST", "/Groups", SPIES),
    Scim("PUT", "/Groups/$ownGroup", {"schemas": [GROUP], "displayName": "A", **B_USER_AS_MEMBER}),
    Scim("PATCH", "/Groups/$ownGroup", ADD_B_USER),
    Scim("PATCH", "/Groups/$ownGroup", op("remove", 'members[value eq "$user"]')),
    # Listings and filters reaching for B.
    Scim("GET", "/Users", params={"filter": 'id eq "$user"'}),
    Scim("GET", "/Users", params={"filter": 'userName eq "$userName"'}),
    Scim("GET", "/Users", params={"filter": 'groups.value eq "$group"'}),
    Scim("GET", "/Users", params={"filter": 'userName sw "$userName"', "count": "1000"}),
    Scim("GET", "/Groups", params={"filter": 'members.value eq "$user"'}),
    Scim("GET", "/Groups", params={"filter": 'id eq "$group" or displayName eq "$groupName"'}),
    Scim("POST", "/Users/.search", search('id eq "$user" or userName eq "$userName"')),
    Scim("POST", "/Groups/.search", search('members.value eq "$user"')),
    Scim("POST", "/.search", search('id eq "$user" or id eq "$group"')),
    Scim(
        "POST",
        "/Bulk",
        {
            "schemas": [BULK],
            "Operations": [
                bulk_op("PUT", "/Users/$user", {"schemas": [USER], "userName": "x@acme.test"}),
                bulk_op("PATCH", "/Users/$user", op("replace", "active", False)),
                bulk_op("DELETE", "/Users/$user"),
                bulk_op("PATCH", "/Groups/$group", op("replace", "displayName", "x")),
                bulk_op("DELETE", "/Groups/$group"),
                bulk_op("POST", "/Groups", SPIES),
                bulk_op("PATCH", "/Groups/$ownGroup", ADD_B_USER),
            ],
        },
    ),
    # Discovery: no tenant data, but behind the tenant's token all the same.
    Scim("GET", "/ServiceProviderConfig"),
    Scim("GET", "/ResourceTypes"),
    Scim("GET", "/ResourceTypes/User"),
    Scim("GET", "/Schemas"),
    Scim("GET", "/Schemas/" + USER),
    # Last, as they give A namesakes of B's user and group: B's names are free in A (a 409
    # would tell that B holds them).
    Scim("POST", "/Users", {"schemas": [USER], "userName": "$userName"}),
    Scim("POST", "/Groups", {"schemas": [GROUP], "displayName": "$groupName"}),
]


# -- the GraphQL cases ----------------------------------------------------------------------

#: What a result union answers, with the error that must not differ between B's id and none.
NOT_FOUND = "__typename ... on NotFoundError { message resource }"

GRAPHQL_CASES: dict[str, str] = {
    # Queries.
    "apiKeys": "{ apiKeys { id userId name prefix } }",
    "tenants": "{ tenants { edges { node { slug name } } } }",
    "groups": "{ groups { edges { node { id displayName members { edges { node { userId } } } } } } }",  # noqa: E501
    "group": f"query($group: ID!) {{ group(id: $group) {{ {NOT_FOUND} }} }}",
    "roles": "{ roles { id name } }",
    "user": f"query($user: ID!) {{ user(id: $user) {{ {NOT_FOUND} }} }}",
    "viewer": "{ viewer { userId label roles { role source } } }",
    "tenant": "{ tenant { id slug name scimEndpoint } }",
    "users": "{ users { totalCount edges { node { id userName groups { id } roles { role } } } } }",
    "users (groupId)": "query($group: ID!) { users(filter: {groupId: $group}) { totalCount } }",
    "users (role)": "query($roleName: String!) { users(filter: {role: $roleName}) { totalCount } }",
    "users (search)": "query($userName: String!) { users(filter: {search: $userName}) { totalCount } }",  # noqa: E501
    "auditEvents": "{ auditEvents(first: 100) { totalCount edges { node { actor targetId before after } } } }",  # noqa: E501
    "auditEvents (targetId)": "query($user: String!) { auditEvents(filter: {targetId: $user}) { totalCount } }",  # noqa: E501
    "auditEvents (actorId)": "query($admin: ID!) { auditEvents(filter: {actorId: $admin}) { totalCount } }",  # noqa: E501
    "scimStatus": "{ scimStatus { lastError requestsLast24h usersProvisioned } }",
    "scimTokens": "{ scimTokens { id prefix createdBy } }",
    # Mutations on B's ids.
    "updateUser": f'mutation($user: ID!) {{ updateUser(id: $user, input: {{givenName: "G"}}) {{ {NOT_FOUND} }} }}',  # noqa: E501
    "deactivateUser": f"mutation($user: ID!) {{ deactivateUser(id: $user) {{ {NOT_FOUND} }} }}",
    "reactivateUser": f"mutation($user: ID!) {{ reactivateUser(id: $user) {{ {NOT_FOUND} }} }}",
    "setPassword": f'mutation($user: ID!) {{ setPassword(userId: $user, password: "hijacked pass 1") {{ {NOT_FOUND} }} }}',  # noqa: E501
    "updateRole": f'mutation($role: ID!) {{ updateRole(id: $role, name: "Mine") {{ {NOT_FOUND} }} }}',  # noqa: E501
    "deleteRole": f"mutation($role: ID!) {{ deleteRole(id: $role) {{ {NOT_FOUND} }} }}",
    "assignRole": f'mutation($user: ID!) {{ assignRole(userId: $user, role: "admin") {{ {NOT_FOUND} }} }}',  # noqa: E501
    "assignRole (B's role)": f"mutation($ownUser: ID!, $roleName: String!) {{ assignRole(userId: $ownUser, role: $roleName) {{ {NOT_FOUND} }} }}",  # noqa: E501
    "unassignRole": f"mutation($user: ID!, $roleName: String!) {{ unassignRole(userId: $user, role: $roleName) {{ {NOT_FOUND} }} }}",  # noqa: E501
    "mapGroupToRole": f'mutation($group: ID!) {{ mapGroupToRole(groupId: $group, role: "admin") {{ {NOT_FOUND} }} }}',  # noqa: E501
    "mapGroupToRole (B's role)": f"mutation($ownGroup: ID!, $roleName: String!) {{ mapGroupToRole(groupId: $ownGroup, role: $roleName) {{ {NOT_FOUND} }} }}",  # noqa: E501
    "unmapGroupToRole": f"mutation($group: ID!, $roleName: String!) {{ unmapGroupToRole(groupId: $group, role: $roleName) {{ {NOT_FOUND} }} }}",  # noqa: E501
    "revokeScimToken": f"mutation($token: ID!) {{ revokeScimToken(id: $token) {{ {NOT_FOUND} }} }}",
    "createApiKey": f'mutation($user: ID!) {{ createApiKey(name: "k", userId: $user) {{ {NOT_FOUND} }} }}',  # noqa: E501
    "revokeApiKey": f"mutation($key: ID!) {{ revokeApiKey(id: $key) {{ {NOT_FOUND} }} }}",
    # Mutations naming B's names and secrets, or none of B at all.
    "login": "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { __typename ... on LoginFailed { message } } }",  # noqa: E501
    "logout": "mutation { logout { ok } }",
    "createUser": "mutation($userName: String!) { createUser(input: {userName: $userName}) { __typename } }",  # noqa: E501
    "createRole": "mutation($roleName: String!) { createRole(name: $roleName, permissions: []) { __typename } }",  # noqa: E501
    "createTenant": "mutation($slug: String!) { createTenant(slug: $slug) { __typename } }",
    "updateTenant": 'mutation { updateTenant(name: "Acme Renamed") { __typename } }',
    "generateScimToken": "mutation { generateScimToken(overlapMinutes: 60) { __typename } }",
}


# -- B's world, and what A must never see of it ---------------------------------------------


@dataclass
class World:
    a_scim: dict[str, str]
    a_admin_key: str
    #: B's ids, names and secrets by variable name, and A's own ids.
    b: dict[str, str]
    own: dict[str, str]
    #: Text of B that no answer to A may hold (its token's and key's prefixes, its slug…).
    markers: list[str]
    b_tenant: TenantRecord

    def fresh(self) -> dict[str, str]:
        """What a random, non-existent id or name looks like for each of B's variables."""
        tag = uuid.uuid4().hex[:10]
        names = {
            "userName": f"n{tag}@example.test",
            "email": f"n{tag}@example.test",
            "groupName": f"Group {tag}",
            "roleName": f"Role{tag}",
            "password": f"password {tag}",
            "slug": f"t{tag}",
        }
        return {name: names.get(name) or str(uuid.uuid4()) for name in self.b}


async def scim(client: httpx.AsyncClient, auth: dict[str, str], host: str | None = None):  # type: ignore[no-untyped-def]
    async def send(method: str, path: str, body: Any = None, params: Any = None):  # type: ignore[no-untyped-def]
        headers = auth | ({"Host": host} if host else {})
        response = await client.request(
            method, "/api/scim" + path, json=body, params=params, headers=headers
        )
        assert response.status_code < 300, response.text
        return response.json()

    return send


@pytest.fixture
async def world(client, acme, globex, scim_auth, admin_key, graphql, security: Security) -> World:
    b_token = await tokens.generate_scim_token(
        tenant_id=globex.id, actor=CLI_ACTOR, security=security
    )
    b_admin = await api_keys.create_admin(
        email="boss@globex.test", tenant_slug="globex", actor=CLI_ACTOR, security=security
    )
    on_b = await scim(client, {"Authorization": f"Bearer {b_token.token}"}, B_HOST)
    bob = await on_b(
        "POST",
        "/Users",
        {
            "schemas": [USER],
            "userName": "bob@globex.test",
            "password": B_PASSWORD,
            "emails": [{"value": "bob@globex.test", "primary": True}],
        },
    )
    crew = await on_b(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Globex Crew", "members": [{"value": bob["id"]}]},
    )
    role = await roles.create_role(
        tenant_id=globex.id, name="GlobexOnly", permissions=[], actor=CLI_ACTOR
    )
    bob_key = await api_keys.create_api_key(
        tenant_id=globex.id,
        user_id=uuid.UUID(bob["id"]),
        name="bob's",
        actor=CLI_ACTOR,
        security=security,
    )
    # B's admin acts through the API, so that B's trail names them as an actor.
    for query in (
        'mutation($u: ID!) { assignRole(userId: $u, role: "GlobexOnly") { __typename } }',
        'mutation($g: ID!) { mapGroupToRole(groupId: $g, role: "GlobexOnly") { __typename } }',
    ):
        answer = await graphql(b_admin.key, query, {"u": bob["id"], "g": crew["id"]}, B_HOST)
        assert "Done" in answer.text or "GroupRoleMapping" in answer.text, answer.text

    on_a = await scim(client, scim_auth)
    alice = await on_a("POST", "/Users", {"schemas": [USER], "userName": "alice@acme.test"})
    crew_a = await on_a(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Acme Crew", "members": [{"value": alice["id"]}]},
    )
    b = {
        "user": bob["id"],
        "group": crew["id"],
        "role": str(role.id),
        "token": str(b_token.info.id),
        "key": str(bob_key.id),
        "admin": str(b_admin.user_id),
        "userName": "bob@globex.test",
        "email": "bob@globex.test",
        "groupName": "Globex Crew",
        "roleName": "GlobexOnly",
        "password": B_PASSWORD,
        "slug": "globex",
    }
    return World(
        a_scim=scim_auth,
        a_admin_key=admin_key,
        b=b,
        own={"ownUser": alice["id"], "ownGroup": crew_a["id"]},
        markers=[
            "globex",
            "Globex",
            b_token.info.prefix,
            b_admin.prefix,
            bob_key.prefix,
            *(b[name] for name in ("user", "group", "role", "token", "key", "admin")),
        ],
        b_tenant=globex,
    )


async def snapshot(tenant_id: uuid.UUID) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tenant, table by table. SCIM activity is left out: it is the server's
    observation of requests to B's endpoint (refused ones included), not B's data."""
    state: dict[str, list[dict[str, Any]]] = {
        "tenant": await Tenant.select().where(Tenant.id == tenant_id)
    }
    for table in ALL_TABLES:
        if table in (Tenant, ScimActivity):
            continue
        t: Any = table
        rows = await table.select().where(t.tenant == tenant_id)
        state[table._meta.tablename] = sorted(rows, key=lambda row: str(row["id"]))
    return state


def fill(template: Any, values: dict[str, str]) -> Any:
    """The template with every `$name` replaced by its value, in strings at any depth."""
    if isinstance(template, str):
        return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, dict):
        return {fill(k, values): fill(v, values) for k, v in template.items()}
    return template


def unfill(text: str, values: dict[str, str]) -> str:
    """The answer with each value replaced by `$name` again (longest values first)."""
    for name, value in sorted(values.items(), key=lambda item: -len(item[1])):
        text = text.replace(value, f"${name}")
    return text


#: Attributes that differ between any two answers (server-assigned), compared by presence.
_ASSIGNED = {"id", "meta", "location", "version"}


def comparable(text: str) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: "…" if k in _ASSIGNED else strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return strip(json.loads(text)) if text else None


def leaked(text: str, world: World, used: dict[str, str]) -> list[str]:
    """B's markers in an answer, once what the request itself named is taken out (an error
    may echo the id it was given)."""
    text = unfill(text, used)
    return [marker for marker in world.markers if marker in text]


def scim_request(case: Scim, values: dict[str, str]) -> dict[str, Any]:
    return {
        "method": case.method,
        "url": "/api/scim" + fill(case.path, values),
        "json": fill(case.body, values),
        "params": fill(case.params, values),
    }


def graphql_variables(query: str, values: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in values.items() if f"${name}:" in query}


# -- 1. A's credentials on B's host ---------------------------------------------------------


async def test_a_scim_token_on_b_host_is_refused_everywhere(client, world: World) -> None:
    problems = []
    for case in SCIM_CASES:
        before = await snapshot(world.b_tenant.id)
        request = scim_request(case, world.b | world.own)
        response = await client.request(**request, headers={**world.a_scim, "Host": B_HOST})
        if response.status_code != 401 or leaked(response.text, world, {}):
            problems.append((case, response.status_code, response.text))
        if await snapshot(world.b_tenant.id) != before:
            problems.append((case, "changed B"))
    assert not problems, "\n".join(map(str, problems))


async def test_an_api_key_of_a_on_b_host_is_refused_everywhere(
    client, graphql, world: World
) -> None:
    problems = []
    for name, query in GRAPHQL_CASES.items():
        before = await snapshot(world.b_tenant.id)
        variables = graphql_variables(query, world.b | world.own)
        response = await graphql(world.a_admin_key, query, variables, B_HOST)
        body = response.json()
        if response.status_code != 401 or body.get("data") or leaked(response.text, world, {}):
            problems.append((name, response.status_code, response.text))
        if await snapshot(world.b_tenant.id) != before:
            problems.append((name, "changed B"))
    # GraphQL over GET too.
    fetched = await client.get(
        "/graphql",
        params={"query": GRAPHQL_CASES["users"]},
        headers={"Authorization": f"Bearer {world.a_admin_key}", "Host": B_HOST},
    )
    assert fetched.status_code == 401, fetched.text
    assert not problems, "\n".join(map(str, problems))


async def test_every_credential_of_a_is_refused_on_b_host(
    client, graphql, world: World, member, security: Security
) -> None:
    """SCIM token, admin key, a member's key and a session: none opens B, on either door."""
    password = "alice's password"
    await graphql(
        world.a_admin_key,
        "mutation($u: ID!, $p: String!) { setPassword(userId: $u, password: $p) { __typename } }",
        {"u": world.own["ownUser"], "p": password},
    )
    login = 'mutation($p: String!) { login(email: "alice@acme.test", password: $p) { ... on LoginSession { token } } }'  # noqa: E501
    answer = await client.post("/graphql", json={"query": login, "variables": {"p": password}})
    session = answer.json()["data"]["login"]["token"]
    credentials = {
        "scim token": world.a_scim["Authorization"].removeprefix("Bearer "),
        "admin key": world.a_admin_key,
        "member key": member[1],
        "session": session,
    }
    for kind, secret in credentials.items():
        auth = {"Authorization": f"Bearer {secret}", "Host": B_HOST}
        on_scim = await client.get("/api/scim/Users", headers=auth)
        on_graphql = await client.post(
            "/graphql", json={"query": "{ users { totalCount } }"}, headers=auth
        )
        assert (on_scim.status_code, on_graphql.status_code) == (401, 401), kind
        assert "bob" not in on_scim.text + on_graphql.text


# -- 2. A's credentials on A's host, naming B's ids -----------------------------------------


async def test_b_ids_in_scim_requests_answer_as_unknown_ids(client, world: World) -> None:
    problems = []
    for case in SCIM_CASES:
        answers = []
        for values in (world.b, world.fresh()):
            before = await snapshot(world.b_tenant.id)
            used = values | world.own
            response = await client.request(**scim_request(case, used), headers=world.a_scim)
            if leaked(response.text, world, used):
                problems.append((case, "leaks", response.text))
            if await snapshot(world.b_tenant.id) != before:
                problems.append((case, "changed B"))
            answers.append((response.status_code, comparable(unfill(response.text, values))))
        if answers[0] != answers[1]:
            problems.append((case, *answers))
    assert not problems, "\n".join(map(str, problems))


async def test_b_ids_in_graphql_answer_as_unknown_ids(graphql, world: World) -> None:
    problems = []
    for name, query in GRAPHQL_CASES.items():
        answers = []
        for values in (world.b, world.fresh()):
            before = await snapshot(world.b_tenant.id)
            used = graphql_variables(query, values | world.own)
            response = await graphql(world.a_admin_key, query, used)
            if leaked(response.text, world, used):
                problems.append((name, "leaks", response.text))
            if await snapshot(world.b_tenant.id) != before:
                problems.append((name, "changed B"))
            answers.append((response.status_code, unfill(response.text, values)))
            if not used:
                break  # the same request twice would only ask the same again
        if len(answers) == 2 and answers[0] != answers[1]:
            problems.append((name, *answers))
    assert not problems, "\n".join(map(str, problems))


async def test_filters_reaching_for_b_find_nothing(client, graphql, world: World) -> None:
    """The explicit form of a few cases above: B's ids in filters match nothing in A."""
    for filter_ in (f'id eq "{world.b["user"]}"', f'members.value eq "{world.b["user"]}"'):
        path = "/api/scim/Users" if filter_.startswith("id") else "/api/scim/Groups"
        listed = await client.get(path, params={"filter": filter_}, headers=world.a_scim)
        assert listed.json()["totalResults"] == 0, filter_
    users = await graphql(
        world.a_admin_key,
        "query($g: ID!) { users(filter: {groupId: $g}) { totalCount edges { node { id } } } }",
        {"g": world.b["group"]},
    )
    assert users.json()["data"]["users"] == {"totalCount": 0, "edges": []}


# -- the one principal allowed across tenants -----------------------------------------------


async def test_an_operator_key_crosses_tenants_and_is_audited(
    graphql, world: World, operator_key
) -> None:
    listed = await graphql(operator_key, "{ users { edges { node { id } } } }", host=B_HOST)
    assert world.b["user"] in {e["node"]["id"] for e in listed.json()["data"]["users"]["edges"]}
    deactivated = await graphql(
        operator_key,
        "mutation($u: ID!) { deactivateUser(id: $u) { __typename } }",
        {"u": world.b["user"]},
        host=B_HOST,
    )
    assert deactivated.json()["data"]["deactivateUser"]["__typename"] == "User"
    [event] = await AuditEvent.select(
        AuditEvent.actor_type, AuditEvent.actor_label, AuditEvent.target_id
    ).where((AuditEvent.tenant == world.b_tenant.id) & (AuditEvent.action == "user.deactivate"))
    assert event["actor_type"] == "api_key"
    assert event["actor_label"].startswith("ops@define.wtf (key ")
    assert event["target_id"] == world.b["user"]


# -- every route and field has a case -------------------------------------------------------


def _scim_routes(app: Litestar) -> set[tuple[str, str]]:
    return {
        (method, route.path.removeprefix("/api/scim"))
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/scim")
        for method in route.methods - {"OPTIONS", "HEAD"}
    }


def test_every_scim_route_has_a_case(app: Litestar) -> None:
    def covers(route: tuple[str, str], case: Scim) -> bool:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(route[1]))
        return case.method == route[0] and re.fullmatch(pattern, case.path) is not None

    routes = _scim_routes(app)
    assert [r for r in routes if not any(covers(r, c) for c in SCIM_CASES)] == []
    assert [c for c in SCIM_CASES if not any(covers(r, c) for r in routes)] == []


async def test_every_graphql_field_has_a_case(graphql, admin_key) -> None:
    introspection = (
        "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }"
    )
    schema = (await graphql(admin_key, introspection)).json()["data"]["__schema"]
    names = {f["name"] for kind in ("queryType", "mutationType") for f in schema[kind]["fields"]}
    assert names == {name.split(" ")[0] for name in GRAPHQL_CASES}
