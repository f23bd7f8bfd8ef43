"""The whole User of RFC 7643 §4.1 and the enterprise extension (§4.3) round-trips:
nothing an IdP sends is dropped, nulls mean unassigned, the password is never returned."""

from __future__ import annotations

import copy

USERS = "/api/scim/Users"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

#: RFC 7643 §8.2's full representation, with the enterprise extension of §8.3.
FULL_USER = {
    "schemas": [CORE, ENTERPRISE],
    "externalId": "701984",
    "userName": "bjensen@example.com",
    "name": {
        "formatted": "Ms. Barbara J Jensen, III",
        "familyName": "Jensen",
        "givenName": "Barbara",
        "middleName": "Jane",
        "honorificPrefix": "Ms.",
        "honorificSuffix": "III",
    },
    "displayName": "Babs Jensen",
    "nickName": "Babs",
    "profileUrl": "https://login.example.com/bjensen",
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    "addresses": [
        {
            "type": "work",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "US",
            "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
            "primary": True,
        }
    ],
    "phoneNumbers": [
        {"value": "555-555-5555", "type": "work"},
        {"value": "555-555-4444", "type": "mobile"},
    ],
    "ims": [{"value": "someaimhandle", "type": "aim"}],
    "photos": [
        {"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}
    ],
    "userType": "Employee",
    "title": "Tour Guide",
    "preferredLanguage": "en-US",
    "locale": "en-US",
    "timezone": "America/Los_Angeles",
    "active": True,
    "password": "t1meMa$heen",
    "entitlements": [{"value": "vpn", "type": "access"}],
    "roles": [{"value": "guide", "type": "job", "primary": True}],
    "x509Certificates": [{"value": "TUlJRGpEQ0NBL1NnQXdJQkFnSUpBTQ=="}],
    ENTERPRISE: {
        "employeeNumber": "701984",
        "costCenter": "4130",
        "organization": "Universal Studios",
        "division": "Theme Park",
        "department": "Tour Operations",
        # manager.displayName is readOnly (RFC 7643 §4.3): a client does not send it.
        "manager": {
            "value": "26118915-6090-4610-87e4-49d8ca9f808d",
            "$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
        },
    },
    # An attribute of an extension this server does not know, and a stray attribute: kept.
    "urn:example:params:scim:schemas:extension:acme:2.0:User": {"badge": "A-17"},
    "customField": "kept as sent",
}


def without_server_fields(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


async def test_every_attribute_round_trips(client, scim_auth) -> None:
    sent = copy.deepcopy(FULL_USER)
    sent["schemas"].append("urn:example:params:scim:schemas:extension:acme:2.0:User")
    created = await client.post(USERS, json=sent, headers=scim_auth)
    assert created.status_code == 201, created.text
    expected = {k: v for k, v in sent.items() if k != "password"}
    assert without_server_fields(created.json()) == expected
    read = (await client.get(f"{USERS}/{created.json()['id']}", headers=scim_auth)).json()
    assert without_server_fields(read) == expected
    assert "password" not in read
    assert set(read["meta"]) == {"resourceType", "created", "lastModified", "location", "version"}


async def test_nulls_are_unassigned(client, scim_auth) -> None:
    body = {
        "schemas": [CORE],
        "userName": "nulls@example.com",
        "title": None,
        "name": None,
        "emails": None,
        "displayName": "Visible",
    }
    response = await client.post(USERS, json=body, headers=scim_auth)
    assert response.status_code == 201, response.text
    created = response.json()
    assert "title" not in created
    assert "name" not in created
    assert "emails" not in created
    replaced = await client.put(
        f"{USERS}/{created['id']}",
        json={"schemas": [CORE], "userName": "nulls@example.com", "displayName": None},
        headers=scim_auth,
    )
    assert replaced.status_code == 200, replaced.text
    assert "displayName" not in replaced.json()
    listed = await client.get(USERS, params={"filter": "displayName pr"}, headers=scim_auth)
    assert listed.json()["totalResults"] == 0


async def test_unknown_attributes_survive_a_patch(client, scim_auth) -> None:
    sent = copy.deepcopy(FULL_USER)
    sent["schemas"].append("urn:example:params:scim:schemas:extension:acme:2.0:User")
    created = (await client.post(USERS, json=sent, headers=scim_auth)).json()
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Head Guide"}],
    }
    patched = (await client.patch(f"{USERS}/{created['id']}", json=patch, headers=scim_auth)).json()
    assert patched["title"] == "Head Guide"
    assert patched["customField"] == "kept as sent"
    assert patched[ENTERPRISE]["manager"]["value"] == "26118915-6090-4610-87e4-49d8ca9f808d"
    assert patched["urn:example:params:scim:schemas:extension:acme:2.0:User"] == {"badge": "A-17"}


async def test_locations_follow_the_scheme_the_client_reached(client, scim_auth) -> None:
    """Behind a TLS-terminating proxy (uvicorn takes the scheme from X-Forwarded-Proto) the
    resource's `meta.location` and the `Location` header are https."""
    for scheme in ("http", "https"):
        body = {"schemas": [CORE], "userName": f"{scheme}@example.com"}
        created = await client.post(
            f"{scheme}://acme.localhost{USERS}", json=body, headers=scim_auth
        )
        assert created.status_code == 201, created.text
        location = f"{scheme}://acme.localhost{USERS}/{created.json()['id']}"
        assert created.headers["location"] == location
        assert created.json()["meta"]["location"] == location
        listed = await client.get(
            f"{scheme}://acme.localhost{USERS}",
            params={"filter": f'userName eq "{scheme}@example.com"'},
            headers=scim_auth,
        )
        assert listed.json()["Resources"][0]["meta"]["location"] == location
