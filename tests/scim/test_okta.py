"""Okta, replayed request by request.

Sources (request lines, headers and bodies are Okta's own examples):
- "SCIM 2.0 Protocol Reference", developer.okta.com/docs/reference/scim/scim-20/
  (okta/okta-developer-docs, packages/@okta/vuepress-site/docs/reference/scim/scim-20/index.md):
  the `filter=userName eq …&startIndex=1&count=100` existence check answered by an empty
  ListResponse; the POST body (with `password`, `groups: []`, `locale`); the GET-then-PUT update
  ("For any custom app integrations created using the AIW, all SCIM operations that update a
  User object, including these operations [activation, deactivation, password sync], are always
  sent through a PUT method request"); the OIN PATCH `{"op":"replace","value":{"active":false}}`;
  "Okta doesn't perform DELETE operations on User objects"; Group Push: POST with `members: []`,
  rename by a no-path replace of `{"id","displayName"}` ("The group name update operation is
  triggered each time there is a group membership update operation"), membership by
  `remove members[value eq "…"]` + `add members [{value, display}]`, a full push by `replace
  members`, AIW group updates by PUT, "Unlink pushed group" → "Delete the group in the target
  app" as DELETE /Groups/{id}.
- "SCIM 1.1 Protocol Reference" (same repository, docs/reference/scim/scim-11/index.md): after the
  configuration is saved Okta sends `GET /Users?startIndex=1&count=2` and
  `GET /Groups?startIndex=1&count=100`, "the query parameters … are always constant".
- Okta's Runscope suites: "SCIM tests for Runscope" ("Okta SCIM 2.0 Tests",
  raw.githubusercontent.com/joelfranusic-okta/okta-scim-beta/master/SCIM_tests_for_Runscope.json):
  headers `Content-Type: application/scim+json; charset=utf-8`, `Accept: application/scim+json`,
  and a response time under 600 ms; the "Okta SCIM 2.0 Spec Test"
  (developer.okta.com/standards/SCIM/SCIMFiles/Okta-SCIM-20-SPEC-Test.json, named in "Test your
  SCIM API"; its steps as ported one by one in a public better-auth conformance test): "Username
  Case Sensitivity Check" (the upper-cased userName finds the user) and "Expect failure when
  recreating user with same values" (409).
"""

from __future__ import annotations

import copy
import time

import pytest
from idp import GROUP, PATCHED, USER, ScimConversation, patch_op, query

OKTA_HEADERS = {
    "User-Agent": "Okta SCIM Client 1.0.0",
    "Accept": "application/scim+json",
}


@pytest.fixture
def okta(client, scim_token) -> ScimConversation:
    return ScimConversation(
        client,
        scim_token,
        content_type="application/scim+json; charset=utf-8",
        headers=OKTA_HEADERS,
    )


def okta_user(user_name: str, given: str, family: str, external_id: str) -> dict:
    """The POST body of "Create the User" (SCIM 2.0 reference)."""
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


async def assign(okta: ScimConversation, body: dict) -> str:
    """Assigning a user to the app: the existence check, then the create."""
    lookup = query("/Users", filter=f'userName eq "{body["userName"]}"', startIndex=1, count=100)
    assert await okta.find(lookup) == []
    created = await okta.post("/Users", body)
    user_id = created.json()["id"]
    assert created.headers["location"] == created.json()["meta"]["location"]
    assert created.headers["location"].endswith(f"/api/scim/Users/{user_id}")
    return user_id


def expected_user(body: dict) -> dict:
    """What a GET must show of a user Okta created: what it sent, minus the password and the
    read-only `groups`."""
    return {k: v for k, v in body.items() if k not in {"password", "groups", "schemas"}}


def shown(user: dict) -> dict:
    return {k: v for k, v in user.items() if k not in {"id", "meta", "schemas", "groups"}}


async def test_connection_test_assignment_deactivation_and_reactivation(okta) -> None:
    """An OIN integration: PATCH for activation, deactivation and password sync; never DELETE."""
    # Saving the provisioning configuration: two constant requests.
    assert await okta.find("/Users?startIndex=1&count=2") == []
    started = time.perf_counter()
    assert await okta.find("/Groups?startIndex=1&count=100") == []
    assert time.perf_counter() - started < 0.6  # the spec test's response-time assertion

    body = okta_user("test.user@okta.local", "Test", "User", "00ujl29u0le5T6Aj10h7")
    user_id = await assign(okta, body)
    user = await okta.user(user_id)
    assert shown(user) == expected_user(body)

    # "Username Case Sensitivity Check": Okta matches userName case-insensitively.
    found = await okta.find_user('userName eq "TEST.USER@OKTA.LOCAL"', startIndex=1, count=100)
    assert found is not None
    assert found["id"] == user_id
    # "Expect failure when recreating user with same values".
    again = await okta.post("/Users", body, expect=409)
    assert again.json()["scimType"] == "uniqueness"
    assert [u["id"] for u in await okta.find("/Users?startIndex=1&count=100")] == [user_id]

    # Deactivation (user unassigned, suspended or deactivated in Okta).
    response = await okta.patch(
        f"/Users/{user_id}", patch_op({"op": "replace", "value": {"active": False}})
    )
    assert response.json()["active"] is False
    user = await okta.user(user_id)
    assert shown(user) == {**expected_user(body), "active": False}
    # Okta never deletes: the deactivated user is still found by its userName.
    found = await okta.find_user('userName eq "test.user@okta.local"', startIndex=1, count=100)
    assert found is not None
    assert (found["id"], found["active"]) == (user_id, False)

    # Reactivation.
    await okta.patch(f"/Users/{user_id}", patch_op({"op": "replace", "value": {"active": True}}))
    assert shown(await okta.user(user_id)) == expected_user(body)

    # Password sync: no-path replace of the password; nothing visible changes.
    await okta.patch(
        f"/Users/{user_id}", patch_op({"op": "replace", "value": {"password": "n3w-Pa55word"}})
    )
    assert shown(await okta.user(user_id)) == expected_user(body)
    assert [u["id"] for u in await okta.find("/Users?startIndex=1&count=100")] == [user_id]


async def test_aiw_app_updates_users_and_groups_by_put(okta) -> None:
    """An App Integration Wizard app: every user update is GET then PUT of the whole body
    (deactivation included); group pushes are PUTs of the whole group."""
    first = okta_user("test.user@okta.local", "Test", "User", "00ujl29u0le5T6Aj10h7")
    second = okta_user("other.user@okta.local", "Other", "User", "00ujl29u0le5T6Aj10h8")
    first_id = await assign(okta, first)
    second_id = await assign(okta, second)

    created = await okta.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}
    )
    group_id = created.json()["id"]
    pushed = {
        "schemas": [GROUP],
        "id": group_id,
        "displayName": "Test SCIMv2",
        "members": [{"value": first_id, "display": "test.user@okta.local"}],
    }
    await okta.put(f"/Groups/{group_id}", pushed)
    assert await okta.members(group_id) == {first_id}

    # Profile update: Okta reads the user, changes what changed and PUTs the body back,
    # read-only `id`, `meta` and `groups` included.
    current = await okta.user(first_id)
    replacement = copy.deepcopy(current)
    replacement["name"] = {"givenName": "Another", "middleName": "Excited", "familyName": "User"}
    response = await okta.put(f"/Users/{first_id}", replacement)
    assert response.json()["id"] == first_id
    updated = await okta.user(first_id)
    assert updated["name"] == {
        "givenName": "Another",
        "middleName": "Excited",
        "familyName": "User",
    }
    assert shown(updated) == {**expected_user(first), "name": replacement["name"]}
    assert [g["value"] for g in updated["groups"]] == [group_id]  # read-only, not replaced
    assert await okta.members(group_id) == {first_id}

    # Deactivation by PUT, then reactivation by PUT.
    replacement = copy.deepcopy(updated)
    replacement["active"] = False
    await okta.put(f"/Users/{first_id}", replacement)
    assert (await okta.user(first_id))["active"] is False
    found = await okta.find_user('userName eq "test.user@okta.local"', startIndex=1, count=100)
    assert found is not None
    assert (found["id"], found["active"]) == (first_id, False)
    replacement["active"] = True
    await okta.put(f"/Users/{first_id}", replacement)
    assert shown(await okta.user(first_id)) == {**expected_user(first), "name": updated["name"]}

    # Group rename and membership change in one PUT, then a PUT that drops a member.
    pushed = {
        "schemas": [GROUP],
        "id": group_id,
        "displayName": "Test SCIMv20",
        "members": [
            {"value": first_id, "display": "test.user@okta.local"},
            {"value": second_id, "display": "other.user@okta.local"},
        ],
    }
    await okta.put(f"/Groups/{group_id}", pushed)
    group = await okta.group(group_id)
    assert group["displayName"] == "Test SCIMv20"
    # The member displays Okta sent are shown back.
    assert {m["value"]: m["display"] for m in group["members"]} == {
        first_id: "test.user@okta.local",
        second_id: "other.user@okta.local",
    }
    pushed["members"] = pushed["members"][1:]
    await okta.put(f"/Groups/{group_id}", pushed)
    assert await okta.members(group_id) == {second_id}
    assert "groups" not in await okta.user(first_id)


async def test_group_push_by_patch(okta) -> None:
    first_id = await assign(okta, okta_user("test.user@okta.local", "Test", "User", "00u1"))
    second_id = await assign(okta, okta_user("other.user@okta.local", "Other", "User", "00u2"))

    created = await okta.post(
        "/Groups", {"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}
    )
    group_id = created.json()["id"]
    assert created.json()["displayName"] == "Test SCIMv2"
    group = await okta.group(group_id)
    assert (group["displayName"], group.get("members", [])) == ("Test SCIMv2", [])

    async def rename(name: str) -> None:
        """Sent with every membership update (and on a real rename)."""
        body = patch_op({"op": "replace", "value": {"id": group_id, "displayName": name}})
        await okta.patch(f"/Groups/{group_id}", body, expect=PATCHED)

    # Membership update: add (members carry no `type`), then the repeated rename.
    add_first = {
        "op": "add",
        "path": "members",
        "value": [{"value": first_id, "display": "test.user@okta.local"}],
    }
    await okta.patch(f"/Groups/{group_id}", patch_op(add_first), expect=PATCHED)
    await rename("Test SCIMv2")
    group = await okta.group(group_id)
    assert group["displayName"] == "Test SCIMv2"
    # The member display Okta sent is shown back.
    assert [(m["value"], m["display"]) for m in group["members"]] == [
        (first_id, "test.user@okta.local")
    ]
    assert [g["value"] for g in (await okta.user(first_id))["groups"]] == [group_id]

    # One request removing one member and adding another.
    swap = patch_op(
        {"op": "remove", "path": f'members[value eq "{first_id}"]'},
        {
            "op": "add",
            "path": "members",
            "value": [{"value": second_id, "display": "other.user@okta.local"}],
        },
    )
    await okta.patch(f"/Groups/{group_id}", swap, expect=PATCHED)
    await rename("Test SCIMv2")
    assert await okta.members(group_id) == {second_id}
    assert "groups" not in await okta.user(first_id)

    # A real rename: visible by GET and by a displayName filter.
    await rename("Test SCIMv20")
    assert (await okta.group(group_id))["displayName"] == "Test SCIMv20"
    listed = await okta.find(query("/Groups", filter='displayName eq "Test SCIMv20"'))
    assert [g["id"] for g in listed] == [group_id]
    assert await okta.find(query("/Groups", filter='displayName eq "Test SCIMv2"')) == []

    # "Push now": the full membership by replace.
    push_all = {
        "op": "replace",
        "path": "members",
        "value": [
            {"value": first_id, "display": "test.user@okta.local"},
            {"value": second_id, "display": "other.user@okta.local"},
        ],
    }
    await okta.patch(f"/Groups/{group_id}", patch_op(push_all), expect=PATCHED)
    assert await okta.members(group_id) == {first_id, second_id}
    # "Push now" of a group that is empty in Okta.
    empty = patch_op({"op": "replace", "path": "members", "value": []})
    await okta.patch(f"/Groups/{group_id}", empty, expect=PATCHED)
    group = await okta.group(group_id)
    assert (group["displayName"], group.get("members", [])) == ("Test SCIMv20", [])

    listed = await okta.find("/Groups?startIndex=1&count=100")
    assert [(g["id"], g["displayName"]) for g in listed] == [(group_id, "Test SCIMv20")]

    # Unlink pushed group, "Delete the group in the target app".
    await okta.delete(f"/Groups/{group_id}")
    await okta.gone(f"/Groups/{group_id}")
    assert await okta.find("/Groups?startIndex=1&count=100") == []
    assert {u["id"] for u in await okta.find("/Users?startIndex=1&count=100")} == {
        first_id,
        second_id,
    }
