"""Microsoft Entra ID (Azure AD) provisioning service, replayed request by request.

Sources:
- "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
  learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
  (MicrosoftDocs/entra-docs, docs/identity/app-provisioning/use-scim-to-provision-users-and-
  groups.md), "SCIM protocol requests and responses": Create User (with `roles: []` and
  `meta.resourceType`), Get User by query / "Zero results" (200 with an empty ListResponse),
  Update User [Multi-valued] (`Replace` of `emails[type eq "work"].value` and
  `name.familyName`), [Single-valued] (`Replace` of `userName`), Disable User, Delete User,
  Create Group (with the `http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group`
  schema and no members), Get Group `?excludedAttributes=members`, Get Group by displayName
  `?excludedAttributes=members&filter=displayName eq "…"`, Update Group [Non-member attributes]
  (`Replace displayName`), [Add Members] (`{"$ref": null, "value": …}`), [Remove Members]
  (`Remove` with a value list), all group PATCHes answered 204. The general guidelines: "Microsoft
  Entra ID makes requests to fetch a random user and group … as a part of the Test Connection
  flow", users are queried by `userName` and `externalId`, uniqueness by
  `emails[type eq "work"].value eq …`, "The user object should be returned … whether or not the
  user is active", "Requests to determine whether a reference attribute has a certain value are
  requests about the members attribute".
- "Known issues … SCIM 2.0 protocol compliance of the Microsoft Entra user provisioning service"
  (same repository, application-provisioning-config-problem-scim-compatibility.md): without the
  `aadOptscim062020` flag (the default) Entra disables with `"value": "False"`, adds a
  single-valued string with `"op": "Add"`, replaces many attributes one `Replace` each (externalId
  and the enterprise `employeeNumber` URN path included); with the flag it sends lower-case ops, a
  JSON boolean, a path-less `replace` with dotted and URN keys, and removes a member by
  `members[value eq "…"]`.
- "How Application Provisioning works" (same repository, how-provisioning-works.md): a user
  deleted in Entra is soft-deleted (disabled) first; "Thirty days after … the provisioning service
  sends a DELETE request"; reference attributes: "a user may have a "Manager" attribute in the
  target system, which is linked to another user created in the target system" (sent as that
  user's id, as DESIGN.md §5 records).
- Headers: "the content type header that comes in with the request is actually `Content-Type:
  application/scim+json; charset=utf-8`" (MicrosoftDocs/azure-docs issue #12728; the same in
  limosa-io/laravel-scim-server pull request #8).
"""

from __future__ import annotations

import uuid

import pytest
from idp import ENTERPRISE, GROUP, PATCHED, USER, ScimConversation, patch_op, query

ADSCIM_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@pytest.fixture
def entra(client, scim_token) -> ScimConversation:
    return ScimConversation(client, scim_token, content_type="application/scim+json; charset=utf-8")


def entra_user(user_name: str, external_id: str, email: str) -> dict:
    """The Create User request of the tutorial."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }


async def provision(entra: ScimConversation, body: dict) -> str:
    """Entra matches on userName first; nothing found → create."""
    assert await entra.find_user(f'userName eq "{body["userName"]}"') is None
    return (await entra.post("/Users", body)).json()["id"]


async def test_test_connection_queries_a_random_user_and_group(entra) -> None:
    assert await entra.find_user(f'userName eq "{uuid.uuid4()}"') is None
    assert await entra.find_user(f'externalId eq "{uuid.uuid4()}"') is None
    lookup = query(
        "/Groups", excludedAttributes="members", filter=f'displayName eq "{uuid.uuid4()}"'
    )
    assert await entra.find(lookup) == []


async def test_user_lifecycle_with_the_default_job(entra) -> None:
    user_name = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"
    external_id = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    email = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    body = entra_user(user_name, external_id, email)
    user_id = await provision(entra, body)

    user = await entra.user(user_id)
    assert user["userName"] == user_name
    assert user["externalId"] == external_id
    assert user["active"] is True
    assert user["name"] == body["name"]
    assert user["emails"] == body["emails"]
    for lookup in (
        f'userName eq "{user_name}"',
        f'externalId eq "{external_id}"',
        f'emails[type eq "work"].value eq "{email}"',
    ):
        found = await entra.find_user(lookup)
        assert found is not None, lookup
        assert found["id"] == user_id

    # Update User [Multi-valued properties].
    await entra.patch(
        f"/Users/{user_id}",
        patch_op(
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ),
    )
    user = await entra.user(user_id)
    assert user["emails"] == [
        {"primary": True, "type": "work", "value": "updatedEmail@microsoft.com"}
    ]
    assert user["name"] == {**body["name"], "familyName": "updatedFamilyName"}

    # Update User [Single-valued properties]: a new userName.
    new_user_name = "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    single = patch_op({"op": "Replace", "path": "userName", "value": new_user_name})
    await entra.patch(f"/Users/{user_id}", single)
    assert (await entra.user(user_id))["userName"] == new_user_name
    assert await entra.find_user(f'userName eq "{user_name}"') is None
    found = await entra.find_user(f'userName eq "{new_user_name}"')
    assert found is not None
    assert found["id"] == user_id

    # Replacing several attributes, one `Replace` each; adding a single-valued string.
    await entra.patch(
        f"/Users/{user_id}",
        patch_op(
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "TestBcwqnm@test.microsoft.com",
            },
            {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
            {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
            {"op": "Replace", "path": "externalId", "value": "Eqpj"},
            {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Eqpj"},
        ),
    )
    await entra.patch(
        f"/Users/{user_id}", patch_op({"op": "Add", "path": "nickName", "value": "Babs"})
    )
    user = await entra.user(user_id)
    assert user["displayName"] == "Pvlo"
    assert user["nickName"] == "Babs"
    assert user["emails"] == [
        {"primary": True, "type": "work", "value": "TestBcwqnm@test.microsoft.com"}
    ]
    assert user["name"] == {
        "formatted": "givenName familyName",
        "givenName": "Gtfd",
        "familyName": "Pkqf",
    }
    assert user["externalId"] == "Eqpj"
    assert user[ENTERPRISE]["employeeNumber"] == "Eqpj"
    found = await entra.find_user('externalId eq "Eqpj"')
    assert found is not None
    assert found["id"] == user_id

    # The manager reference: the manager is provisioned (without an email), then linked by id;
    # a work email added to a user who has none creates the entry.
    manager_id = await provision(
        entra,
        {
            "schemas": [USER],
            "externalId": "58342554-38d6-4ec8-948c-50044d0a33fd",
            "userName": "manager@testuser.com",
            "active": True,
            "meta": {"resourceType": "User"},
        },
    )
    await entra.patch(
        f"/Users/{user_id}",
        patch_op({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager_id}),
    )
    assert (await entra.user(user_id))[ENTERPRISE]["manager"]["value"] == manager_id
    await entra.patch(
        f"/Users/{manager_id}",
        patch_op(
            {
                "op": "Add",
                "path": 'emails[type eq "work"].value',
                "value": "manager@testuser.com",
            }
        ),
    )
    assert (await entra.user(manager_id))["emails"] == [
        {"type": "work", "value": "manager@testuser.com"}
    ]

    # Disable (unassigned, or soft-deleted in Entra): booleans as strings.
    disable = patch_op({"op": "Replace", "path": "active", "value": "False"})
    assert (await entra.patch(f"/Users/{user_id}", disable)).json()["active"] is False
    found = await entra.find_user(f'userName eq "{new_user_name}"')
    assert found is not None  # still returned while inactive
    assert (found["id"], found["active"]) == (user_id, False)
    enable = patch_op({"op": "Replace", "path": "active", "value": "True"})
    await entra.patch(f"/Users/{user_id}", enable)
    assert (await entra.user(user_id))["active"] is True

    # Soft-deleted in Entra, then hard-deleted thirty days later.
    await entra.patch(f"/Users/{user_id}", disable)
    await entra.delete(f"/Users/{user_id}")
    await entra.gone(f"/Users/{user_id}")
    assert await entra.find_user(f'userName eq "{new_user_name}"') is None
    assert await entra.find_user('externalId eq "Eqpj"') is None

    # Provisioned again (restored from the recycle bin, re-assigned): the same account comes back.
    again = entra_user(new_user_name, "Eqpj", "back@testuser.com")
    assert await provision(entra, again) == user_id
    user = await entra.user(user_id)
    assert (user["userName"], user["externalId"], user["active"]) == (new_user_name, "Eqpj", True)
    assert user["emails"] == again["emails"]


async def test_user_updates_with_the_scim_compliant_flag(entra) -> None:
    """aadOptscim062020: lower-case ops, JSON booleans, a path-less replace with dotted and
    URN keys."""
    body = entra_user(
        "Test_User_flag@testuser.com", "7fce0092-d52e-4f76-b727-3955bd72c939", "flag@testuser.com"
    )
    user_id = await provision(entra, body)

    await entra.patch(
        f"/Users/{user_id}", patch_op({"op": "add", "path": "nickName", "value": "Babs"})
    )
    await entra.patch(
        f"/Users/{user_id}",
        patch_op(
            {
                "op": "replace",
                "path": 'emails[type eq "work"].value',
                "value": "TestMhvaes@test.microsoft.com",
            },
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    f"{ENTERPRISE}:employeeNumber": "Aklq",
                },
            },
        ),
    )
    user = await entra.user(user_id)
    assert user["nickName"] == "Babs"
    assert user["displayName"] == "Bjfe"
    assert user["name"] == {
        "formatted": "givenName familyName",
        "givenName": "Kkom",
        "familyName": "Unua",
    }
    assert user["emails"] == [
        {"primary": True, "type": "work", "value": "TestMhvaes@test.microsoft.com"}
    ]
    assert user[ENTERPRISE]["employeeNumber"] == "Aklq"

    disable = patch_op({"op": "replace", "path": "active", "value": False})
    await entra.patch(f"/Users/{user_id}", disable)
    assert (await entra.user(user_id))["active"] is False


async def test_group_lifecycle(entra) -> None:
    first_id = await provision(
        entra, entra_user("first@testuser.com", "ext-1", "first@testuser.com")
    )
    second_id = await provision(
        entra, entra_user("second@testuser.com", "ext-2", "second@testuser.com")
    )

    by_name = query("/Groups", excludedAttributes="members", filter='displayName eq "displayName"')
    assert await entra.find(by_name) == []
    # Create Group: created with an empty member list, with Entra's own extra schema URN.
    created = await entra.post(
        "/Groups",
        {
            "schemas": [GROUP, ADSCIM_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
        },
    )
    group_id = created.json()["id"]
    group = await entra.group(group_id, path_suffix="?excludedAttributes=members")
    assert (group["displayName"], group["externalId"]) == (
        "displayName",
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
    )
    assert "members" not in group
    [listed] = await entra.find(by_name)
    assert (listed["id"], listed["displayName"]) == (group_id, "displayName")
    assert "members" not in listed

    # Update Group [Add Members].
    add = patch_op(
        {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": first_id}, {"$ref": None, "value": second_id}],
        }
    )
    await entra.patch(f"/Groups/{group_id}", add, expect=PATCHED)
    assert await entra.members(group_id) == {first_id, second_id}

    async def is_member(user_id: str) -> bool:
        path = query(
            "/Groups",
            filter=f'id eq "{group_id}" and members eq "{user_id}"',
            excludedAttributes="members",
        )
        return [g["id"] for g in await entra.find(path)] == [group_id]

    assert await is_member(first_id)
    assert await is_member(second_id)

    # Update Group [Remove Members]: the value list names who leaves.
    remove = patch_op(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": first_id}]}
    )
    await entra.patch(f"/Groups/{group_id}", remove, expect=PATCHED)
    assert await entra.members(group_id) == {second_id}
    assert not await is_member(first_id)
    assert "groups" not in await entra.user(first_id)

    # aadOptscim062020: a member removed by a value filter.
    flagged = patch_op({"op": "remove", "path": f'members[value eq "{second_id}"]'})
    await entra.patch(f"/Groups/{group_id}", flagged, expect=PATCHED)
    assert await entra.members(group_id) == set()

    # Update Group [Non-member attributes].
    new_name = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    rename = patch_op({"op": "Replace", "path": "displayName", "value": new_name})
    await entra.patch(f"/Groups/{group_id}", rename, expect=PATCHED)
    assert await entra.find(by_name) == []
    renamed = query("/Groups", excludedAttributes="members", filter=f'displayName eq "{new_name}"')
    assert [g["id"] for g in await entra.find(renamed)] == [group_id]

    await entra.delete(f"/Groups/{group_id}")
    await entra.gone(f"/Groups/{group_id}")
    assert await entra.find(renamed) == []
    assert (await entra.user(first_id))["active"] is True  # deleting a group deletes no user
