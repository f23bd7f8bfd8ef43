"""Hostile input at every SCIM door (issue 7 §1): odd path ids, NUL bytes, CR/LF, huge
numbers, wrong JSON types, giant and deeply nested filters, junk query parameters and
headers. Each is refused with a clear SCIM 4xx, writes nothing, and echoes nothing into a
response header. The verdicts live in tests/scim/bad_input.py.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

import pytest
from bad_input import (
    GROUP_SCHEMA,
    PATCH_OP,
    USER_SCHEMA,
    as_json,
    assert_not_a_server_error,
    assert_not_reflected,
    assert_refused,
    stored_state,
)

from scim_facade.requests import MAX_JSON_DEPTH

BASE = "/api/scim"


# -- path ids ----------------------------------------------------------------------------------

#: As they appear on the wire (already percent-encoded where a client would have to).
HOSTILE_IDS = [
    "not-a-uuid",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "a%2Fb",
    "%00",
    "00000000-0000-0000-0000-000000000000%00",
    "%0D%0ASet-Cookie:%20a=b",
    "%E2%80%AE%F0%9F%92%A9",
    "x" * 5000,
    "%FF%FE",
    "1e400",
    "-1",
]


#: A valid replacement of each type: only the id is wrong.
VALID_BODIES = {
    "Users": {"schemas": [USER_SCHEMA], "userName": "x@y.test"},
    "Groups": {"schemas": [GROUP_SCHEMA], "displayName": "x"},
}


@pytest.mark.parametrize("resource", ["Users", "Groups"])
async def test_hostile_path_ids_are_not_found_for_every_method(
    client, scim_auth, seeded, resource: str
) -> None:
    """A path id that is no UUID names no resource: 404 (405 where a slash made it another
    route), whatever the method. `..` never climbs out of the collection."""
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "externalId", "value": "changed"}],
    }
    for raw_id in HOSTILE_IDS:
        for method, kwargs in [
            ("GET", {}),
            ("PUT", as_json(VALID_BODIES[resource])),
            ("PATCH", as_json(patch)),
            ("DELETE", {}),
        ]:
            await assert_refused(
                client,
                method,
                f"{BASE}/{resource}/{raw_id}",
                headers=scim_auth,
                status=(404, 405),
                reflected=[raw_id],
                **kwargs,
            )


async def test_an_id_with_crlf_is_not_reflected_into_headers(client, scim_auth, seeded) -> None:
    """The one header that names a resource, Location, is built from the stored id only."""
    response = await assert_refused(
        client,
        "GET",
        f"{BASE}/Users/{seeded['Users']}%0D%0ALocation:%20https://evil.test",
        headers=scim_auth,
        status=404,
        reflected=["evil.test"],
    )
    assert "location" not in response.headers


# -- bodies --------------------------------------------------------------------------------------


async def test_nul_bytes_in_a_body_are_refused(client, scim_auth, seeded) -> None:
    for body in [
        {"schemas": [USER_SCHEMA], "userName": "nul\u0000@acme.test"},
        {"schemas": [USER_SCHEMA], "userName": "ok@acme.test", "title": "\u0000"},
        {"schemas": [USER_SCHEMA], "userName": "ok@acme.test", "x-\u0000": 1},
        {
            "schemas": [USER_SCHEMA],
            "userName": "ok@acme.test",
            "emails": [{"value": "a\u0000@b.c"}],
        },
    ]:
        await assert_refused(
            client, "POST", f"{BASE}/Users", headers=scim_auth, status=400, **as_json(body)
        )
    await assert_refused(
        client,
        "POST",
        f"{BASE}/Groups",
        headers=scim_auth,
        status=400,
        **as_json({"schemas": [GROUP_SCHEMA], "displayName": "a\u0000b"}),
    )
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "displayName", "value": "x\u0000"}],
    }
    for resource in ("Users", "Groups"):
        await assert_refused(
            client,
            "PATCH",
            f"{BASE}/{resource}/{seeded[resource]}",
            headers=scim_auth,
            status=400,
            **as_json(patch),
        )


async def test_lone_surrogates_and_raw_bytes_are_refused(client, scim_auth) -> None:
    """`\\ud800` is valid JSON text but no Unicode string a database can store."""
    for raw in [
        b'{"schemas":["%s"],"userName":"\\ud800@acme.test"}' % USER_SCHEMA.encode(),
        b'{"schemas":["%s"],"userName":"\xff\xfe"}' % USER_SCHEMA.encode(),
        b"\x00",
    ]:
        await assert_refused(client, "POST", f"{BASE}/Users", headers=scim_auth, content=raw)


async def test_crlf_in_values_is_stored_as_data_never_as_a_header(client, scim_auth) -> None:
    """CR/LF are legal in a JSON string (a postal address has them): kept as data; the
    answer's headers stay clean."""
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "crlf@acme.test",
        "addresses": [{"formatted": "1 Main St\r\nSpringfield", "type": "work"}],
        "externalId": "ext\r\nSet-Cookie: a=b",
    }
    response = await client.post(f"{BASE}/Users", json=body, headers=scim_auth)
    assert response.status_code == 201, response.text
    assert response.json()["externalId"] == body["externalId"]
    assert_not_reflected(response, ["Set-Cookie", "Springfield"])


#: Numbers as they appear in the JSON text: none is a finite JSON number a database can hold
#: (a 5,000-digit integer is past Python's int parsing limit too).
NON_FINITE = ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 5000]
#: Finite, but no string or boolean, and bigger than any integer column.
HUGE_FINITE = [str(2**70), str(-(2**70)), "0." + "1" * 5000]


async def test_huge_and_non_finite_numbers_are_refused_or_kept(client, scim_auth) -> None:
    """Non-finite numbers are not JSON (RFC 8259 §6) and no engine stores them: 400, where
    they stand. Huge finite ones are refused where a string or boolean is due, and in an
    attribute we do not model are kept (JSON holds any size) or refused; never a 5xx."""
    templates = [
        '{"schemas":["%s"],"userName":"n@acme.test","x-number":%s}',
        '{"schemas":["%s"],"userName":"n@acme.test","active":%s}',
        '{"schemas":["%s"],"userName":%s}',
    ]
    for raw, template in itertools.product(NON_FINITE + HUGE_FINITE, templates):
        content = (template % (USER_SCHEMA, raw)).encode()
        if raw in NON_FINITE or "x-number" not in template:
            await assert_refused(
                client, "POST", f"{BASE}/Users", headers=scim_auth, content=content
            )
            continue
        response = await client.post(f"{BASE}/Users", headers=scim_auth, content=content)
        assert_not_a_server_error(response)
        if response.status_code == 201:
            gone = await client.delete(f"{BASE}/Users/{response.json()['id']}", headers=scim_auth)
            assert gone.status_code == 204


#: A value of each wrong JSON type for an attribute.
WRONG_VALUES: list[Any] = [None, True, -(2**70), 1.5, [], [[None]], {"value": {"value": []}}]

USER_ATTRIBUTES = [
    "schemas",
    "id",
    "externalId",
    "userName",
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "active",
    "password",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "meta",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
]
GROUP_ATTRIBUTES = ["schemas", "id", "externalId", "displayName", "members", "meta"]


async def _wrong_types(
    client, scim_auth, resource: str, target: str, attributes: list[str], valid: dict
) -> None:
    """Every attribute with every wrong type, by POST and by PUT onto `target`: refused (4xx)
    with nothing written, or accepted (`id` and `meta` are read-only, ignored on input)."""
    state = await stored_state()
    for attribute, value in itertools.product(attributes, WRONG_VALUES):
        body = {**valid, attribute: value}
        for method, url in [("POST", f"{BASE}/{resource}"), ("PUT", f"{BASE}/{resource}/{target}")]:
            response = await client.request(method, url, headers=scim_auth, **as_json(body))
            assert_not_a_server_error(response)
            if response.status_code < 400 and method == "POST":
                gone = await client.delete(
                    f"{BASE}/{resource}/{response.json()['id']}", headers=scim_auth
                )
                assert gone.status_code == 204
            after = await stored_state()
            if response.status_code >= 400:
                assert after == state, (method, attribute, value, "a refused write wrote")
            state = after


async def test_wrong_json_types_for_every_user_attribute(client, scim_auth, seeded) -> None:
    valid = {"schemas": [USER_SCHEMA], "userName": "types@acme.test"}
    await _wrong_types(client, scim_auth, "Users", seeded["Users"], USER_ATTRIBUTES, valid)


async def test_wrong_json_types_for_every_group_attribute(client, scim_auth, seeded) -> None:
    valid = {"schemas": [GROUP_SCHEMA], "displayName": "Types"}
    await _wrong_types(client, scim_auth, "Groups", seeded["Groups"], GROUP_ATTRIBUTES, valid)


MALFORMED_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"a string"',
    b"42",
    b"{",
    b'{"a":1}{"b":2}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"schemas":["%s"],"userName":"deep@acme.test","x":%s}'
    % (USER_SCHEMA.encode(), b"[" * 900 + b"]" * 900),
]


async def test_malformed_and_deep_bodies_are_refused(client, scim_auth, seeded) -> None:
    """Not JSON, not an object, or nested past any SCIM resource (and past the recursion
    limit of a parser): 400 at every door that reads a body."""
    doors = [
        ("POST", f"{BASE}/Users"),
        ("POST", f"{BASE}/Groups"),
        ("PUT", f"{BASE}/Users/{seeded['Users']}"),
        ("PATCH", f"{BASE}/Groups/{seeded['Groups']}"),
        ("POST", f"{BASE}/Users/.search"),
        ("POST", f"{BASE}/.search"),
        ("POST", f"{BASE}/Bulk"),
    ]
    for content in MALFORMED_BODIES:
        for method, url in doors:
            await assert_refused(client, method, url, headers=scim_auth, content=content)


async def test_json_nesting_limit_at_its_edge(client, scim_auth) -> None:
    """MAX_JSON_DEPTH levels of nesting are read (then judged as SCIM); one more is 400
    invalidSyntax before validation, so no parser or validator recursion is ever at risk."""

    def nested(levels: int) -> Any:
        value: Any = "x"
        for _ in range(levels):
            value = [value]
        return value

    # The body object is level 1; the lists under "x-deep" are levels 2 to levels + 1.
    for levels, status in [(MAX_JSON_DEPTH - 1, 201), (MAX_JSON_DEPTH, 400)]:
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"d{levels}@acme.test",
            "x-deep": nested(levels),
        }
        response = await client.post(f"{BASE}/Users", headers=scim_auth, **as_json(body))
        assert response.status_code == status, (levels, response.text)
    assert response.json()["scimType"] == "invalidSyntax"


# -- filters and list parameters ----------------------------------------------------------------

HOSTILE_FILTERS = [
    " or ".join(['userName eq "a"'] * 1000),
    " and ".join(["id pr"] * 400),
    " or ".join(["title pr"] * 400),
    "(" * 1000 + "userName pr" + ")" * 1000,
    "not(" * 1000 + "userName pr" + ")" * 1000,
    "emails[" * 1000 + 'value eq "a"' + "]" * 1000,
    "(" * 5000,
    ")" * 5000,
    '"' * 3,
    'userName eq "\u0000"',
    'userName eq "\\u0000"',
    'title co "\u0000"',
    'emails[value sw "\\u0000"]',
    'userName\u0000 eq "a"',
    'userName eq "a"\r\nSet-Cookie: x=y',
    'userName eq "\\ud800"',
    'displayName eq "\\udfff"',
    'userName eq "\\',
    "a." * 2000 + "b pr",
    "urn:" + "x:" * 1000 + "userName pr",
    "userName eq 1e400",
    "userName eq " + "9" * 4000,
    "meta.lastModified gt 1e400",
    'meta.lastModified gt "99999-01-01T00:00:00Z"',
    'meta.created eq "\u0000"',
    'active eq "true"',
    'id eq ".."',
    'emails[type eq "work"].value eq "a"',
    'members[value eq "x"]',
    'userName eq "' + "é" * 2000 + '"',
]


async def test_hostile_filters_never_fail_the_server(client, scim_auth, seeded) -> None:
    """Each is refused (400 invalidFilter or invalidValue), or is a well-formed filter that
    simply matches: never a 5xx, never echoed into a header; GET and POST .search agree."""
    before = await stored_state()
    for expression, resource in itertools.product(HOSTILE_FILTERS, ("Users", "Groups")):
        response = await client.get(
            f"{BASE}/{resource}?filter={quote(expression)}", headers=scim_auth
        )
        assert_not_a_server_error(response)
        assert_not_reflected(response, [expression])
        searched = await client.post(
            f"{BASE}/{resource}/.search", json={"filter": expression}, headers=scim_auth
        )
        assert_not_a_server_error(searched)
        assert searched.status_code == response.status_code, (response.text, searched.text)
    assert await stored_state() == before


async def test_nul_and_surrogates_in_filter_values_are_invalid_filters(client, scim_auth) -> None:
    """The filter parser decodes `\\u0000` and `\\ud800` escapes; PostgreSQL cannot compare
    NUL and no driver can send a lone surrogate, so these are refused before any SQL."""
    for expression in ['userName eq "\\u0000"', 'title co "\\ud800"', 'emails[value eq "\u0000"]']:
        response = await client.get(f"{BASE}/Users?filter={quote(expression)}", headers=scim_auth)
        assert response.status_code == 400, (expression, response.text)
        assert response.json()["scimType"] == "invalidFilter"


HOSTILE_LIST_PARAMETERS = [
    "startIndex=-1",
    "startIndex=0",
    "startIndex=abc",
    f"startIndex={2**70}",
    f"startIndex={2**63}",
    f"startIndex={2**63 - 1}",
    "startIndex=1e400",
    "startIndex=%00",
    "count=-5",
    f"count={2**70}",
    "count=NaN",
    "count=%20%201",
    "count=\u0661",
    "count=\u00b2",
    "count=1_000",
    "sortBy=" + "a." * 500,
    "sortBy=%00",
    "sortBy=userName&sortOrder=sideways",
    'sortBy=emails[type eq "work"]',
    "attributes=" + ",".join(["a"] * 2000),
    "attributes=%00",
    "attributes=urn:" + "x:" * 500,
    'attributes=emails[type eq "work"]',
    "excludedAttributes=,,,,",
    "excludedAttributes=..%2F..",
    "attributes=userName&excludedAttributes=title",
    "filter=",
    "filter=%0D%0A",
    "filter=userName%20eq%20%22a%22&filter=title%20pr",
]


async def test_hostile_list_parameters(client, scim_auth, seeded) -> None:
    """RFC 7644 §3.4.2.4 clamps out-of-range startIndex / count; anything else that is not a
    number or an attribute is a 400. Never a 5xx, on lists and on single resources."""
    before = await stored_state()
    for query in HOSTILE_LIST_PARAMETERS:
        for url in [
            f"{BASE}/Users?{query}",
            f"{BASE}/Groups?{query}",
            f"{BASE}/Users/{seeded['Users']}?{query}",
            f"{BASE}/Groups/{seeded['Groups']}?{query}",
        ]:
            assert_not_a_server_error(await client.get(url, headers=scim_auth))
    assert await stored_state() == before


async def test_a_start_index_past_any_integer_is_an_empty_page(client, scim_auth, seeded) -> None:
    """2**70 is no SQL OFFSET on either engine: lowered, it still means "past the end"."""
    for body in [{"startIndex": 2**70}, {"startIndex": 2**63, "count": 2**70}]:
        response = await client.post(f"{BASE}/Users/.search", json=body, headers=scim_auth)
        assert response.status_code == 200, response.text
        assert response.json()["totalResults"] == 1
        assert response.json()["Resources"] == []
    listed = await client.get(f"{BASE}/Groups?startIndex={2**70}", headers=scim_auth)
    assert listed.status_code == 200, listed.text
    assert listed.json()["Resources"] == []


JUNK_TAGS = [
    "junk",
    'W/"',
    'W/"\u00b2"',
    'W/"99999999999999999999999"',
    'W/"-1"',
    '*, W/"1"',
    'W/"1"\r\nSet-Cookie: a=b',
    "\u0000",
    "",
]


async def test_junk_if_match_is_a_failed_precondition(client, scim_auth, seeded) -> None:
    """A tag that names no version of ours can match nothing: 412, and no write. Header bytes
    are latin-1 text to the app; `W/"²"` (byte 0xB2) passed str.isdigit() and crashed int()."""
    patch = {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "externalId", "value": "changed"}],
    }
    for value, resource in itertools.product(JUNK_TAGS, ("Users", "Groups")):
        url = f"{BASE}/{resource}/{seeded[resource]}"
        wire = value.encode("latin-1")
        for method, kwargs in [("PATCH", as_json(patch)), ("DELETE", {})]:
            await assert_refused(
                client,
                method,
                url,
                headers={**scim_auth, "If-Match": wire},
                status=412,
                reflected=[value],
                **kwargs,
            )
        got = await client.get(url, headers={**scim_auth, "If-None-Match": wire})
        assert got.status_code == 200, (value, got.text)
        assert_not_reflected(got, [value])


# -- Bulk --------------------------------------------------------------------------------------


async def test_hostile_bulk_operations(client, scim_auth, seeded) -> None:
    """Bulk replays each operation through the app: its paths, versions and data are client
    input too. Every one fails on its own (a 4xx in the BulkResponse) and writes nothing."""
    target = f"/Users/{seeded['Users']}"
    operations = [
        {"method": "PATCH", "path": "/Users/%00", "data": {}},
        {"method": "DELETE", "path": "/Users/a b"},
        {"method": "DELETE", "path": "/Users/\r\nx"},
        {"method": "DELETE", "path": "/Users/\u00e9\u202e"},
        {"method": "DELETE", "path": target, "version": 'W/"1"\r\nX: y'},
        {"method": "DELETE", "path": target, "version": 'W/"\u00b2"'},
        {"method": "DELETE", "path": target, "version": 'W/"\u0661"'},
        {"method": "DELETE", "path": "/Users/\u0085"},
        {"method": "DELETE", "path": target, "version": ["not", "a", "tag"]},
        {"method": "POST", "path": "/Users", "data": "not an object"},
        {"method": "POST", "path": "/Users", "data": [1, 2]},
        {"method": "POST", "path": "/Users", "bulkId": {"a": 1}, "data": {}},
        {"method": "PUT", "path": "/Users/bulkId:nope", "data": {}},
    ]
    bulk = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}
    before = await stored_state()
    response = await client.post(
        f"{BASE}/Bulk", json={**bulk, "Operations": operations}, headers=scim_auth
    )
    assert response.status_code == 200, response.text
    assert await stored_state() == before
    results = response.json()["Operations"]
    assert len(results) == len(operations)
    for result in results:
        assert 400 <= int(result["status"]) < 500, result
    assert_not_reflected(response, [])
    # NUL anywhere in the request refuses all of it, before any operation runs.
    for nul in [
        {"method": "PATCH", "path": "/Users/\u0000", "data": {}},
        {"method": "POST", "path": "/Users", "data": {"userName": "\u0000"}},
    ]:
        await assert_refused(
            client,
            "POST",
            f"{BASE}/Bulk",
            headers=scim_auth,
            status=400,
            **as_json({**bulk, "Operations": [nul]}),
        )


MALFORMED_BULK = [
    {"Operations": "x"},
    {"Operations": [None]},
    {"Operations": [{"method": "POST"}]},
    {"Operations": [{"method": ["POST"], "path": "/Users"}]},
    {"Operations": [{"method": "POST", "path": 5}]},
    {"Operations": [], "failOnErrors": "1"},
    {"Operations": [], "failOnErrors": -1},
    {"Operations": [{"method": "GET", "path": "/Users"}] * 1001},
]


async def test_malformed_bulk_requests(client, scim_auth) -> None:
    for body in MALFORMED_BULK:
        await assert_refused(client, "POST", f"{BASE}/Bulk", headers=scim_auth, **as_json(body))
