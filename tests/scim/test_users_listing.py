"""Listing users: sortBy/sortOrder, paging, attributes/excludedAttributes, POST .search
(RFC 7644 §3.4.2.3-5, §3.4.3), and the request limits (413, 415)."""

from __future__ import annotations

import pytest

from definewtf.services import paging

USERS = "/api/scim/Users"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

#: userName, title (None = unassigned), givenName, department
PEOPLE = [
    ("carol@x.test", "Engineer", "Carol", "R&D"),
    ("alice@x.test", None, "alice", "Sales"),
    ("Bob@x.test", "architect", "Bob", None),
    ("dave@x.test", "Zookeeper", None, "R&D"),
    ("émile@x.test", "Engineer", "Émile", "Sales"),
]


@pytest.fixture
async def people(client, scim_auth) -> dict[str, str]:
    ids = {}
    for user_name, title, given, department in PEOPLE:
        body: dict = {"schemas": [CORE, ENTERPRISE], "userName": user_name}
        if title is not None:
            body["title"] = title
        if given is not None:
            body["name"] = {"givenName": given, "familyName": "X"}
        if department is not None:
            body[ENTERPRISE] = {"department": department}
        response = await client.post(USERS, json=body, headers=scim_auth)
        assert response.status_code == 201, response.text
        ids[user_name] = response.json()["id"]
    return ids


async def listed(client, scim_auth, **params) -> list[str]:
    response = await client.get(USERS, params=params, headers=scim_auth)
    assert response.status_code == 200, response.text
    return [r["userName"] for r in response.json()["Resources"]]


def expected_order(key, *, descending=False) -> list[str]:
    """NULLs last in both directions; case-insensitive strings compare folded."""
    present = [p for p in PEOPLE if key(p) is not None]
    absent = [p for p in PEOPLE if key(p) is None]
    present.sort(key=lambda p: key(p).casefold(), reverse=descending)
    return [p[0] for p in present] + [p[0] for p in absent]


async def test_sort_by_user_name(client, scim_auth, people) -> None:
    assert await listed(client, scim_auth, sortBy="userName") == expected_order(lambda p: p[0])
    assert await listed(client, scim_auth, sortBy="userName", sortOrder="descending") == (
        expected_order(lambda p: p[0], descending=True)
    )


async def test_sort_by_an_attribute_with_unassigned_values(client, scim_auth, people) -> None:
    """NULLs are placed last on both engines; ties keep a stable order."""
    by_title = await listed(client, scim_auth, sortBy="title")
    assert by_title[-1] == "alice@x.test"
    titles = {p[0]: p[1] for p in PEOPLE}
    ordered = [titles[name].casefold() for name in by_title[:-1]]
    assert ordered == sorted(ordered)
    descending = await listed(client, scim_auth, sortBy="title", sortOrder="descending")
    assert descending[-1] == "alice@x.test"
    assert [titles[n].casefold() for n in descending[:-1]] == sorted(ordered, reverse=True)


async def test_sort_by_sub_and_extension_attributes(client, scim_auth, people) -> None:
    assert await listed(client, scim_auth, sortBy="name.givenName") == expected_order(
        lambda p: p[2]
    )
    by_department = await listed(client, scim_auth, sortBy=f"{ENTERPRISE}:department")
    assert by_department[-1] == "Bob@x.test"
    departments = {p[0]: p[3] for p in PEOPLE}
    assert [departments[n] for n in by_department[:-1]] == ["R&D", "R&D", "Sales", "Sales"]


@pytest.mark.parametrize("sort_by", ["nope", "password", "name", "(", 'emails[type eq "x"]'])
async def test_an_unsortable_attribute_is_400(client, scim_auth, people, sort_by) -> None:
    response = await client.get(USERS, params={"sortBy": sort_by}, headers=scim_auth)
    assert response.status_code == 400
    assert response.json()["status"] == "400"


async def test_pages_are_stable_and_complete(client, scim_auth, people) -> None:
    seen = []
    for start in range(1, 6, 2):
        seen += await listed(client, scim_auth, sortBy="title", startIndex=str(start), count="2")
    assert sorted(seen) == sorted(p[0] for p in PEOPLE)
    assert seen == await listed(client, scim_auth, sortBy="title")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sortBy": "title", "sortOrder": "descending"},
        {"filter": 'userName co "e"', "sortBy": "name.givenName"},
    ],
)
async def test_later_pages_follow_the_first_pages_order(client, scim_auth, people, params):
    """Pages after the first pick their ids first (`paging.fetch_page`): pages of two walk
    the same order as one page of all, filtered, sorted, and past a deleted user."""
    deleted = people["dave@x.test"]
    response = await client.delete(f"{USERS}/{deleted}", headers=scim_auth)
    assert response.status_code == 204
    whole = await listed(client, scim_auth, **params)
    assert "dave@x.test" not in whole
    walked = []
    for start in range(1, len(whole) + 2, 2):
        walked += await listed(client, scim_auth, **params, startIndex=str(start), count="2")
    assert walked == whole


#: (userName, familyName or None), in creation order: ties once folded (alpha / Alpha, the
#: two "mé"), users without one before, between and after those with one.
FAMILIES = [
    ("f1@y.test", "beta"),
    ("f2@y.test", None),
    ("f3@y.test", "Alpha"),
    ("s4@y.test", "mé"),
    ("f5@y.test", None),
    ("s6@y.test", "alpha"),
    ("f7@y.test", "zulu"),
    ("s8@y.test", "MÉ"),
    ("s9@y.test", None),
]


def family_order(*, descending: bool, prefix: str = "") -> list[str]:
    """With a familyName: by it folded, ties in creation order; then those without one, in
    creation order (RFC 7644 §3.4.2.3: unassigned values last, either direction)."""
    chosen = [(i, name, family) for i, (name, family) in enumerate(FAMILIES)]
    chosen = [c for c in chosen if c[1].startswith(prefix)]
    present = [c for c in chosen if c[2] is not None]
    present.sort(key=lambda c: c[0])
    present.sort(key=lambda c: c[2].casefold(), reverse=descending)  # stable: ties keep order
    return [c[1] for c in present] + [c[1] for c in chosen if c[2] is None]


@pytest.fixture
async def families(client, scim_auth) -> None:
    for user_name, family in FAMILIES:
        body: dict = {"schemas": [CORE], "userName": user_name}
        if family is not None:
            body["name"] = {"familyName": family, "givenName": "G"}
        response = await client.post(USERS, json=body, headers=scim_auth)
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("prefix", ["", "s"])
async def test_pages_sorted_by_a_single_value_cross_into_the_users_without_one(
    client, scim_auth, families, descending, prefix
) -> None:
    """A single-valued attribute's sort is walked in `user_value`'s index, then the users
    without a value are read in creation order (`paging._ids_by_value`): every page size
    and start, the page where the two meet and the pages past it, give one order and the
    total, filtered or not."""
    expected = family_order(descending=descending, prefix=prefix)
    params = {"sortBy": "name.familyName"}
    if descending:
        params["sortOrder"] = "descending"
    if prefix:
        params["filter"] = f'userName sw "{prefix}"'
    assert await listed(client, scim_auth, **params) == expected
    for count in range(1, len(expected) + 1):
        for start in range(1, len(expected) + 2):
            page = {**params, "startIndex": str(start), "count": str(count)}
            response = await client.get(USERS, params=page, headers=scim_auth)
            body = response.json()
            assert body["totalResults"] == len(expected), (page, body)
            names = [r["userName"] for r in body.get("Resources", [])]
            assert names == expected[start - 1 : start - 1 + count], page


async def test_a_user_deleted_between_a_sorted_pages_walk_and_its_read_does_not_end_the_listing(
    client, scim_auth, families, monkeypatch
) -> None:
    """A page sorted by a value names its users first, then reads them: one deleted in
    between leaves the page a user short, and the total must still count the users after it
    (a client stops paging once startIndex passes totalResults; it had been told the
    listing ended there)."""
    walk = paging._ids_by_value
    deleted: list[str] = []

    async def then_delete_the_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        ids = await walk(*args, **kwargs)
        if not deleted:
            deleted.append(str(ids[0]))
            response = await client.delete(f"{USERS}/{ids[0]}", headers=scim_auth)
            assert response.status_code == 204
        return ids

    monkeypatch.setattr(paging, "_ids_by_value", then_delete_the_first)
    params = {"sortBy": "name.familyName", "count": "3"}
    body = (await client.get(USERS, params=params, headers=scim_auth)).json()
    assert len(body["Resources"]) == 2
    assert body["totalResults"] == len(FAMILIES) - 1


async def test_attributes_selects_and_always_returns_id(client, scim_auth, people) -> None:
    response = await client.get(
        USERS, params={"attributes": "userName,name.givenName"}, headers=scim_auth
    )
    for resource in response.json()["Resources"]:
        assert set(resource) <= {"schemas", "id", "userName", "name"}
        assert "id" in resource
        if "name" in resource:
            assert set(resource["name"]) == {"givenName"}


async def test_excluded_attributes(client, scim_auth, people) -> None:
    response = await client.get(
        USERS, params={"excludedAttributes": "title,name"}, headers=scim_auth
    )
    for resource in response.json()["Resources"]:
        assert "title" not in resource
        assert "name" not in resource
        assert resource["userName"]
        assert resource["id"]


async def test_attributes_on_a_single_resource(client, scim_auth, people) -> None:
    user_id = people["carol@x.test"]
    response = await client.get(
        f"{USERS}/{user_id}", params={"attributes": "title"}, headers=scim_auth
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Engineer"
    assert "name" not in response.json()


async def test_post_search_on_users_and_on_the_root(client, scim_auth, people) -> None:
    body = {
        "schemas": [SEARCH],
        "filter": 'title eq "engineer"',
        "sortBy": "userName",
        "sortOrder": "descending",
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    for path in (f"{USERS}/.search", "/api/scim/.search"):
        response = await client.post(path, json=body, headers=scim_auth)
        assert response.status_code == 200, response.text
        names = [r["userName"] for r in response.json()["Resources"]]
        assert names == ["émile@x.test", "carol@x.test"]
        assert response.json()["totalResults"] == 2


async def test_count_zero_and_the_count_cap(client, scim_auth, people) -> None:
    only_total = (await client.get(USERS, params={"count": "0"}, headers=scim_auth)).json()
    assert only_total["totalResults"] == len(PEOPLE)
    assert only_total.get("Resources", []) == []
    capped = (await client.get(USERS, params={"count": "100000"}, headers=scim_auth)).json()
    assert capped["itemsPerPage"] == len(PEOPLE)


async def test_a_body_over_the_limit_is_413(client, scim_auth) -> None:
    body = b'{"schemas": ["' + CORE.encode() + b'"], "userName": "' + b"x" * 1_100_000 + b'"}'
    response = await client.post(
        USERS, content=body, headers={**scim_auth, "Content-Type": "application/scim+json"}
    )
    assert response.status_code == 413
    assert response.json()["status"] == "413"


async def test_a_non_json_media_type_is_415(client, scim_auth) -> None:
    response = await client.post(
        USERS,
        content=b"userName=x",
        headers={**scim_auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["status"] == "415"
    assert response.headers["content-type"].startswith("application/scim+json")
