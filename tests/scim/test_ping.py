"""Ping Identity outbound SCIM provisioning (PingOne SCIM provisioner, PingFederate SCIM
Provisioner), replayed request by request.

Sources:
- "SCIM filter expressions", docs.pingidentity.com/pingone/integrations/
  p1_scim_filter_expressions.html: the provisioner matches users in the target with a filter
  expression where `%s` is the user identifier; the example is `username Eq "%s"` — lower-case
  attribute, capitalised operator (RFC 7644 §3.4.2.2: both case-insensitive).
- "SCIM provisioning features", docs.pingidentity.com/pingone/integrations/
  p1_scim_provisioning_features.html: create, update, disable and delete; core and enterprise
  attributes; OAuth 2 bearer token; "Ability to provision disabled user accounts"; "Configurable
  deprovisioning actions"; "Configurable group provisioning".
- "User and group management", docs.pingidentity.com/integrations/scim/
  pf_scim_connector_user_and_group_management.html: existing users are synchronised by their
  `userName` (Janet's `jsmith` example), then user provisioning, user updates, user
  deprovisioning, group provisioning, group name updates, group membership updates, group
  deletion; "SCIM provisioner settings reference" (…/setup/pf_scim_connector_scim_connector_
  settings_reference.html): Unique User Identifier, User Create / Update / Disable-Delete,
  Provision Disabled Users, and the Remove User Action that chooses Disable or Delete.
Ping's pages document these steps but not their bodies; the suite sends the RFC 7644 forms
(§3.3 POST, §3.5.2 PATCH `replace` with a path and JSON booleans, §3.6 DELETE) with
`Content-Type: application/scim+json`.
"""

from __future__ import annotations

import pytest
from idp import ENTERPRISE, GROUP, PATCHED, USER, ScimConversation, patch_op


@pytest.fixture
def ping(client, scim_token) -> ScimConversation:
    return ScimConversation(client, scim_token, headers={"Accept": "application/scim+json"})


def ping_user(user_name: str, given: str, family: str, *, active: bool = True) -> dict:
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "displayName": f"{given} {family}",
        "emails": [{"value": f"{user_name}@example.com", "type": "work", "primary": True}],
        "active": active,
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations"},
    }


def filter_expression(identifier: str) -> str:
    """The provisioner's default filter expression with the identifier in place of `%s`."""
    return 'username Eq "%s"' % identifier  # noqa: UP031 — Ping's own template syntax


async def provision(ping: ScimConversation, body: dict) -> str:
    assert await ping.find_user(filter_expression(body["userName"])) is None
    return (await ping.post("/Users", body)).json()["id"]


async def test_an_existing_user_is_matched_by_the_filter_expression_and_updated(ping) -> None:
    """Janet already has an account `jsmith`; Ping links it instead of creating one."""
    existing = (await ping.post("/Users", ping_user("jsmith", "Janet", "Smith"))).json()["id"]
    found = await ping.find_user(filter_expression("jsmith"))
    assert found is not None
    assert found["id"] == existing
    update = patch_op(
        {"op": "replace", "path": "title", "value": "Tour Guide"},
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Tours"},
    )
    await ping.patch(f"/Users/{existing}", update)
    user = await ping.user(existing)
    assert user["title"] == "Tour Guide"
    assert user[ENTERPRISE] == {"employeeNumber": "701984", "department": "Tours"}
    assert [u["id"] for u in await ping.find("/Users")] == [existing]


async def test_user_lifecycle_disable_then_delete(ping) -> None:
    body = ping_user("bjensen", "Barbara", "Jensen")
    user_id = await provision(ping, body)
    user = await ping.user(user_id)
    assert user["userName"] == "bjensen"
    assert user["name"] == body["name"]
    assert user["emails"] == body["emails"]
    assert user[ENTERPRISE] == body[ENTERPRISE]
    assert user["active"] is True
    found = await ping.find_user(filter_expression("BJENSEN"))
    assert found is not None
    assert found["id"] == user_id

    # User update: a mapped attribute changed in the source.
    await ping.patch(
        f"/Users/{user_id}",
        patch_op(
            {"op": "replace", "path": "name.familyName", "value": "Jensen-Smith"},
            {"op": "replace", "path": "displayName", "value": "Barbara Jensen-Smith"},
        ),
    )
    user = await ping.user(user_id)
    assert user["name"] == {"givenName": "Barbara", "familyName": "Jensen-Smith"}
    assert user["displayName"] == "Barbara Jensen-Smith"

    # Remove User Action = Disable, then the user is enabled again in the source.
    await ping.patch(
        f"/Users/{user_id}", patch_op({"op": "replace", "path": "active", "value": False})
    )
    assert (await ping.user(user_id))["active"] is False
    found = await ping.find_user(filter_expression("bjensen"))
    assert found is not None
    assert found["active"] is False
    await ping.patch(
        f"/Users/{user_id}", patch_op({"op": "replace", "path": "active", "value": True})
    )
    assert (await ping.user(user_id))["active"] is True

    # Remove User Action = Delete.
    await ping.delete(f"/Users/{user_id}")
    await ping.gone(f"/Users/{user_id}")
    assert await ping.find_user(filter_expression("bjensen")) is None


async def test_disabled_users_are_provisioned_disabled(ping) -> None:
    body = ping_user("ddisabled", "Dana", "Disabled", active=False)
    user_id = await provision(ping, body)
    assert (await ping.user(user_id))["active"] is False
    found = await ping.find_user(filter_expression("ddisabled"))
    assert found is not None
    assert (found["id"], found["active"]) == (user_id, False)
    await ping.patch(
        f"/Users/{user_id}", patch_op({"op": "replace", "path": "active", "value": True})
    )
    assert (await ping.user(user_id))["active"] is True


async def test_group_provisioning_name_and_membership_updates_and_deletion(ping) -> None:
    first = await provision(ping, ping_user("first", "First", "User"))
    second = await provision(ping, ping_user("second", "Second", "User"))

    created = await ping.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Tour Guides", "members": [{"value": first}]}
    )
    group_id = created.json()["id"]
    group = await ping.group(group_id)
    assert group["displayName"] == "Tour Guides"
    assert [(m["value"], m["display"]) for m in group["members"]] == [(first, "First User")]

    rename = patch_op({"op": "replace", "path": "displayName", "value": "Senior Tour Guides"})
    await ping.patch(f"/Groups/{group_id}", rename, expect=PATCHED)
    assert (await ping.group(group_id))["displayName"] == "Senior Tour Guides"

    membership = patch_op(
        {"op": "add", "path": "members", "value": [{"value": second}]},
        {"op": "remove", "path": f'members[value eq "{first}"]'},
    )
    await ping.patch(f"/Groups/{group_id}", membership, expect=PATCHED)
    assert await ping.members(group_id) == {second}
    assert [g["display"] for g in (await ping.user(second))["groups"]] == ["Senior Tour Guides"]

    await ping.delete(f"/Groups/{group_id}")
    await ping.gone(f"/Groups/{group_id}")
    assert "groups" not in await ping.user(second)
