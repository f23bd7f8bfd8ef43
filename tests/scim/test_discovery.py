"""Discovery (RFC 7644 §4): advertised truthfully, served from the registry."""

from __future__ import annotations

import pytest

BASE = "/api/scim"


async def test_service_provider_config_advertises_what_works(client, scim_auth) -> None:
    response = await client.get(f"{BASE}/ServiceProviderConfig", headers=scim_auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/scim+json")
    config = response.json()
    assert config["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    assert config["patch"]["supported"] is True
    assert config["sort"]["supported"] is True
    assert config["etag"]["supported"] is True
    assert config["filter"]["supported"] is True
    assert config["bulk"]["supported"] is True
    assert config["bulk"]["maxOperations"] >= 1
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    # The advertised maximum is the one enforced.
    max_results = config["filter"]["maxResults"]
    listed = await client.get(
        f"{BASE}/Users", params={"count": str(max_results + 50)}, headers=scim_auth
    )
    assert listed.json()["itemsPerPage"] <= max_results


async def test_discovery_needs_the_token(client, scim_auth) -> None:
    assert (await client.get(f"{BASE}/ServiceProviderConfig")).status_code == 401


async def test_resource_types(client, scim_auth) -> None:
    listed = (await client.get(f"{BASE}/ResourceTypes", headers=scim_auth)).json()
    assert listed["totalResults"] == len(listed["Resources"]) >= 1
    user = next(r for r in listed["Resources"] if r["id"] == "User")
    assert user["endpoint"] == "/Users"
    assert user["schema"] == "urn:ietf:params:scim:schemas:core:2.0:User"
    assert (
        user["schemaExtensions"][0]["schema"]
        == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    )
    one = await client.get(f"{BASE}/ResourceTypes/User", headers=scim_auth)
    assert one.json()["endpoint"] == "/Users"
    assert one.json()["meta"]["location"] == "http://acme.localhost/api/scim/ResourceTypes/User"


async def test_schemas_describe_the_attributes_filters_accept(client, scim_auth) -> None:
    listed = (await client.get(f"{BASE}/Schemas", headers=scim_auth)).json()
    ids = {s["id"] for s in listed["Resources"]}
    assert {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    } <= ids
    core = (
        await client.get(
            f"{BASE}/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", headers=scim_auth
        )
    ).json()
    names = {a["name"] for a in core["attributes"]}
    assert {"userName", "name", "emails", "phoneNumbers", "addresses", "x509Certificates"} <= names
    user_name = next(a for a in core["attributes"] if a["name"] == "userName")
    assert user_name["caseExact"] is False
    assert user_name["uniqueness"] == "server"
    password = next(a for a in core["attributes"] if a["name"] == "password")
    assert password["returned"] == "never"
    # Every simple attribute the schema lists can be filtered on (same registry).
    for attribute in core["attributes"]:
        if attribute["type"] in ("string", "boolean") and attribute["name"] != "password":
            response = await client.get(
                f"{BASE}/Users", params={"filter": f"{attribute['name']} pr"}, headers=scim_auth
            )
            assert response.status_code == 200, (attribute["name"], response.text)


@pytest.mark.parametrize("path", ["/ResourceTypes/Nope", "/Schemas/urn:nope", "/Schemas/nope"])
async def test_unknown_discovery_ids_are_scim_404s(client, scim_auth, path) -> None:
    response = await client.get(f"{BASE}{path}", headers=scim_auth)
    assert response.status_code == 404
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
