"""JumpCloud (Identity Management, custom SCIM 2.0 integration), replayed request by request.

Sources:
- "Identity Management using a Custom SCIM Integration", jumpcloud.com/support/provision-and-
  manage-users-and-groups-in-apps-using-custom-scim-identity-management-integration: bearer token;
  "A test user and test group are created to test the integration. Both will be deleted if the
  DELETE method is supported by the service provider"; the admin supplies the test user's email
  (also boxyhq.com/docs/directory-sync/providers/jumpcloud: Base URL, Token Key, Test User Email,
  Test Connection).
- JumpCloud's "Group Management Considerations" for its SCIM connectors
  (jumpcloud.com/wp-json/wp/v2/support/85119): "Empty groups are not created"; "JumpCloud takes
  over management of existing groups in the application when the user group name in JumpCloud
  matches the name of the group"; syncing "whenever there is a membership or group change event";
  "Group renaming is supported"; a disassociated group's members "are deactivated in the
  application unless they are associated with another active application group"; "Managed groups
  deleted in JumpCloud are deleted in the application".
- Repeated member adds: "make the add user to group operation idempotent to avoid throwing errors
  as JumpCloud tends to make such repeat operations" (Infisical/infisical pull request #2138).
- Member removal: "JC uses a slightly different PATCH format for group members (Azure AD-style
  value=[{value:uid}] without an RFC filter)" (app.uni-moni.com/en/kb/sso-setup-jumpcloud).
JumpCloud does not publish its request headers or user-update bodies; the suite sends
`Content-Type: application/json` (DESIGN.md §5: some clients do) and RFC 7644 §3.5.2 PATCHes.
"""

from __future__ import annotations

import pytest
from idp import GROUP, PATCHED, USER, ScimConversation, patch_op, query


@pytest.fixture
def jumpcloud(client, scim_token) -> ScimConversation:
    return ScimConversation(client, scim_token, content_type="application/json")


def jc_user(user_name: str, given: str, family: str) -> dict:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "displayName": f"{given} {family}",
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
    }


async def provision(jumpcloud: ScimConversation, body: dict) -> str:
    assert await jumpcloud.find_user(f'userName eq "{body["userName"]}"') is None
    return (await jumpcloud.post("/Users", body)).json()["id"]


def by_name(name: str) -> str:
    return query("/Groups", filter=f'displayName eq "{name}"')


async def test_test_connection_creates_then_deletes_a_test_user_and_group(jumpcloud) -> None:
    user_id = await provision(jumpcloud, jc_user("scim.test@acme.test", "Scim", "Test"))
    assert (await jumpcloud.user(user_id))["userName"] == "scim.test@acme.test"
    group = {
        "schemas": [GROUP],
        "displayName": "JumpCloud Test Group",
        "members": [{"value": user_id}],
    }
    group_id = (await jumpcloud.post("/Groups", group)).json()["id"]
    assert await jumpcloud.members(group_id) == {user_id}

    await jumpcloud.delete(f"/Groups/{group_id}")
    await jumpcloud.delete(f"/Users/{user_id}")
    await jumpcloud.gone(f"/Groups/{group_id}")
    await jumpcloud.gone(f"/Users/{user_id}")
    assert await jumpcloud.find(by_name("JumpCloud Test Group")) == []
    assert await jumpcloud.find_user('userName eq "scim.test@acme.test"') is None
    # Activating after the test provisions the same test user again.
    assert await provision(jumpcloud, jc_user("scim.test@acme.test", "Scim", "Test")) == user_id


async def test_group_sync_with_repeated_adds_rename_disassociation_and_deletion(jumpcloud) -> None:
    ada = await provision(jumpcloud, jc_user("ada@acme.test", "Ada", "Lovelace"))
    bob = await provision(jumpcloud, jc_user("bob@acme.test", "Bob", "Babbage"))
    cyd = await provision(jumpcloud, jc_user("cyd@acme.test", "Cyd", "Charisse"))

    # An "Engineering" group already exists in the application: JumpCloud finds it by name
    # and takes it over.
    existing = await jumpcloud.post("/Groups", {"schemas": [GROUP], "displayName": "Engineering"})
    engineering = existing.json()["id"]
    assert [g["id"] for g in await jumpcloud.find(by_name("Engineering"))] == [engineering]

    add = patch_op({"op": "add", "path": "members", "value": [{"value": ada}, {"value": bob}]})
    for _ in range(3):  # one sync per change event: the same adds, again and again
        await jumpcloud.patch(f"/Groups/{engineering}", add, expect=PATCHED)
        assert await jumpcloud.members(engineering) == {ada, bob}
    mixed = patch_op({"op": "add", "path": "members", "value": [{"value": ada}, {"value": cyd}]})
    await jumpcloud.patch(f"/Groups/{engineering}", mixed, expect=PATCHED)
    assert await jumpcloud.members(engineering) == {ada, bob, cyd}

    remove = patch_op({"op": "remove", "path": "members", "value": [{"value": bob}]})
    await jumpcloud.patch(f"/Groups/{engineering}", remove, expect=PATCHED)
    assert await jumpcloud.members(engineering) == {ada, cyd}
    assert "groups" not in await jumpcloud.user(bob)

    # A new JumpCloud group: created with its members (empty groups are not created).
    design_body = {
        "schemas": [GROUP],
        "displayName": "Design",
        "members": [{"value": bob}, {"value": ada}],
    }
    design = (await jumpcloud.post("/Groups", design_body)).json()["id"]
    assert await jumpcloud.members(design) == {ada, bob}
    await jumpcloud.patch(f"/Groups/{design}", add, expect=PATCHED)  # repeated, already members
    assert await jumpcloud.members(design) == {ada, bob}

    rename = patch_op({"op": "replace", "path": "displayName", "value": "Product Design"})
    await jumpcloud.patch(f"/Groups/{design}", rename, expect=PATCHED)
    assert await jumpcloud.find(by_name("Design")) == []
    assert [g["id"] for g in await jumpcloud.find(by_name("Product Design"))] == [design]
    assert {g["display"] for g in (await jumpcloud.user(ada))["groups"]} == {
        "Engineering",
        "Product Design",
    }

    # "Product Design" is disassociated from the app: its members who are in no other managed
    # group (bob) are deactivated; ada stays active through Engineering.
    deactivate = patch_op({"op": "replace", "path": "active", "value": False})
    await jumpcloud.patch(f"/Users/{bob}", deactivate)
    assert (await jumpcloud.user(bob))["active"] is False
    assert (await jumpcloud.user(ada))["active"] is True

    # Deleted in JumpCloud: deleted in the application; the other group is untouched.
    await jumpcloud.delete(f"/Groups/{design}")
    await jumpcloud.gone(f"/Groups/{design}")
    assert await jumpcloud.members(engineering) == {ada, cyd}
    assert [(g["value"], g["display"]) for g in (await jumpcloud.user(ada))["groups"]] == [
        (engineering, "Engineering")
    ]
