"""OneLogin (SCIM Provisioner connectors), replayed request by request.

Sources:
- "Step 2. Implement RESTful SCIM APIs for Your App", developers.onelogin.com/scim/
  implement-scim-api: the calls OneLogin makes (Get User with userName filter, Create User, Get
  User by ID, Update User, Get Groups, Create Group, Patch Group, Delete User, Get Users) and the
  "Example API Flow": on the initial connection OneLogin "makes a Get User by userName request using
  a userName filter value that it knows is non-existent" and wants "an empty array of users or
  alternately a 404"; each assigned user is then looked up by userName before being created;
  "the content type header for all responses must be of type application/json".
- "Step 1. Define Your SCIM User Schema", developers.onelogin.com/scim/define-user-schema: the
  SCIM JSON template OneLogin sends, rendered from `{$parameters.scimusername}`,
  `{$user.firstname}`, `{$user.lastname}`, `{$user.email}`…; its "OneLogin Enterprise User Schema"
  sends `"emails": {"value": …, "type": "work", "primary": true}` — one object, not a list.
- "Creating SCIM Custom Connectors", onelogin.service-now.com KB0013904, and the SCIM v2
  Enterprise templates customers paste into it (e.g. livingsecurity.com "Configuring SCIM for
  OneLogin"): core + enterprise schema URNs, `emails` as a list, `title`, enterprise `department`.
- Groups are assigned to users by OneLogin rules after "Refresh Entitlements" reads the app's
  groups (answer on the same topic, example-a.com/answer/44686570, citing
  developers.onelogin.com/scim/create-app).
Where these pages name a call without showing its body, the suite sends the RFC 7644 form:
Update User as a PUT of the re-rendered template, Patch Group as `add`/`remove` of `members`.
"""

from __future__ import annotations

import pytest
from idp import ENTERPRISE, GROUP, PATCHED, USER, ScimConversation, patch_op, query

JSON = "application/json"


@pytest.fixture
def onelogin(client, scim_token) -> ScimConversation:
    return ScimConversation(client, scim_token, content_type=JSON, headers={"Accept": JSON})


def rendered_template(user_name: str, first: str, last: str, email: str, title: str) -> dict:
    """The SCIM v2 Enterprise template with OneLogin's parameters substituted."""
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"familyName": last, "givenName": first},
        "title": title,
        "emails": [{"value": email, "type": "work", "primary": True}],
        ENTERPRISE: {"department": "Research"},
    }


async def test_initial_connection_provisioning_groups_and_deprovisioning(onelogin) -> None:
    # Initial connection: a userName OneLogin knows does not exist.
    assert (
        await onelogin.find_user('userName eq "onelogin-nonexistent-user@example.invalid"') is None
    )

    # Provisioning: look up by userName, then create.
    body = rendered_template("jane.doe@acme.test", "Jane", "Doe", "jane.doe@acme.test", "Engineer")
    assert await onelogin.find_user('userName eq "jane.doe@acme.test"') is None
    jane = (await onelogin.post("/Users", body)).json()["id"]
    other = rendered_template("joe.bloggs@acme.test", "Joe", "Bloggs", "joe@acme.test", "Analyst")
    assert await onelogin.find_user('userName eq "joe.bloggs@acme.test"') is None
    joe = (await onelogin.post("/Users", other)).json()["id"]

    user = await onelogin.user(jane)
    assert user["userName"] == "jane.doe@acme.test"
    assert user["name"] == {"familyName": "Doe", "givenName": "Jane"}
    assert user["title"] == "Engineer"
    assert user["emails"] == body["emails"]
    assert user[ENTERPRISE] == {"department": "Research"}
    assert user["active"] is True

    # Update User: the template rendered again with the changed attributes.
    changed = rendered_template("jane.doe@acme.test", "Jane", "Doe-Smith", "jane@acme.test", "Lead")
    await onelogin.put(f"/Users/{jane}", changed)
    user = await onelogin.user(jane)
    assert user["name"] == {"familyName": "Doe-Smith", "givenName": "Jane"}
    assert user["title"] == "Lead"
    assert user["emails"] == changed["emails"]
    found = await onelogin.find_user('userName eq "jane.doe@acme.test"')
    assert found is not None
    assert found["id"] == jane

    # Refresh Entitlements reads the groups; then a group is created and users assigned to it.
    assert await onelogin.find("/Groups") == []
    group_id = (
        await onelogin.post("/Groups", {"schemas": [GROUP], "displayName": "Engineering"})
    ).json()["id"]
    assert [g["displayName"] for g in await onelogin.find("/Groups")] == ["Engineering"]
    add = patch_op({"op": "add", "path": "members", "value": [{"value": jane}, {"value": joe}]})
    await onelogin.patch(f"/Groups/{group_id}", add, expect=PATCHED)
    assert await onelogin.members(group_id) == {jane, joe}
    remove = patch_op({"op": "remove", "path": f'members[value eq "{joe}"]'})
    await onelogin.patch(f"/Groups/{group_id}", remove, expect=PATCHED)
    assert await onelogin.members(group_id) == {jane}

    # Deprovisioning with the "Delete" action.
    await onelogin.delete(f"/Users/{jane}")
    await onelogin.gone(f"/Users/{jane}")
    assert await onelogin.find_user('userName eq "jane.doe@acme.test"') is None
    assert await onelogin.members(group_id) == set()
    assert [u["id"] for u in await onelogin.find(query("/Users", startIndex=1, count=100))] == [joe]


async def test_emails_sent_as_a_single_object_are_one_email(onelogin) -> None:
    body = {
        "schemas": [USER, ENTERPRISE],
        "userName": "jane.doe@acme.test",
        "name": {"familyName": "Doe", "givenName": "Jane", "formatted": "Jane Doe"},
        "emails": {"value": "jane.doe@acme.test", "type": "work", "primary": True},
        "title": "Engineer",
        ENTERPRISE: {"department": "Research"},
    }
    assert await onelogin.find_user('userName eq "jane.doe@acme.test"') is None
    user_id = (await onelogin.post("/Users", body)).json()["id"]
    user = await onelogin.user(user_id)
    assert user["emails"] == [{"value": "jane.doe@acme.test", "type": "work", "primary": True}]
    found = await onelogin.find_user('emails.value eq "jane.doe@acme.test"')
    assert found is not None
    assert found["id"] == user_id


async def test_answers_are_application_json_when_asked(onelogin) -> None:
    response = await onelogin.get(query("/Users", filter='userName eq "nobody@acme.test"'))
    assert response.headers["content-type"].split(";")[0] == JSON
    created = await onelogin.post(
        "/Users",
        rendered_template("jane.doe@acme.test", "Jane", "Doe", "jane.doe@acme.test", "Engineer"),
    )
    assert created.headers["content-type"].split(";")[0] == JSON
