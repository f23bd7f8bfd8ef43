"""Property-based tests of bad input (issue 7 §1), with hypothesis, through real HTTP.

Three families of generated input: filters (random text, and filters shaped by the RFC 7644
§3.4.2.2 grammar from real and junk attribute names, every operator, values with odd Unicode
and escapes, and/or/not, brackets), PATCH operations (any op, path and value, wrong JSON types
included), and whole resource bodies for POST and PUT of Users and Groups.

The properties: never a 5xx; a 4xx is an RFC 7644 §3.12 error; a refused write leaves every
row as it was; an accepted write leaves the resource readable. Examples share the test's
database (fixtures are per test, not per example), so each example compares the state just
before and just after its own request.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from bad_input import (
    GROUP_SCHEMA,
    PATCH_OP,
    USER_SCHEMA,
    as_json,
    assert_not_a_server_error,
    assert_not_reflected,
    stored_state,
)
from hypothesis import given
from hypothesis import strategies as st

BASE = "/api/scim"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

#: Strings that broke or could break something: NUL, lone surrogates, CR/LF, bidi controls,
#: LIKE wildcards, quotes and backslashes, case-folding expanders, huge ones.
ODD_STRINGS = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "\r\n",
    "\u202e",
    "%",
    "_",
    "\\",
    '"',
    "'",
    "ß",
    "ﬃ",
    "İ",
    "\U0001d518\U0001d52b",  # Fraktur letters: outside the BMP
    "",
    " ",
    "x" * 1100,
]
odd_text = st.one_of(st.text(max_size=30), st.sampled_from(ODD_STRINGS))

# -- filters ------------------------------------------------------------------------------------

ATTRIBUTE_PATHS = [
    "userName",
    "USERNAME",
    "id",
    "externalId",
    "displayName",
    "title",
    "active",
    "name.givenName",
    "name.familyName",
    "name",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "phoneNumbers.value",
    "addresses.locality",
    "meta.created",
    "meta.lastModified",
    "meta.version",
    "members",
    "members.value",
    "groups.value",
    "password",
    f"{ENTERPRISE}:employeeNumber",
    f"{ENTERPRISE}:manager.value",
    f"{ENTERPRISE}:manager",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    "urn:unknown:attr",
    "nosuch",
    "a.b.c",
]
OPERATORS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Sw", "eqq", "=", ""]

attribute_path = st.one_of(
    st.sampled_from(ATTRIBUTE_PATHS), st.from_regex(r"[A-Za-z$_:.\-]{1,12}", fullmatch=True)
)
filter_value = st.one_of(
    odd_text.map(lambda text: json.dumps(text, ensure_ascii=False)),  # quoted, raw Unicode
    odd_text.map(json.dumps),  # quoted, \u escapes (lone surrogates, NUL)
    st.sampled_from(["true", "false", "null", "True", "1e400", "-0", "2011-05-13T04:42:34Z"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats().map(repr),
    st.from_regex(r'"[^"]{0,5}', fullmatch=True),  # unterminated
    st.text(max_size=5),  # unquoted junk
)
comparison = st.one_of(
    st.builds(
        lambda a, o, v: f"{a} {o} {v}", attribute_path, st.sampled_from(OPERATORS), filter_value
    ),
    attribute_path.map(lambda a: f"{a} pr"),
)


def _compose(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(
            lambda a, k, b: f"{a} {k} {b}",
            children,
            st.sampled_from(["and", "or", "AND", "xor"]),
            children,
        ),
        children.map(lambda f: f"not ({f})"),
        children.map(lambda f: f"({f})"),
        children.map(lambda f: f"({f}"),  # unbalanced
        st.builds(lambda a, f: f"{a}[{f}]", attribute_path, children),
        st.builds(lambda a, f, s: f"{a}[{f}].{s}", attribute_path, children, attribute_path),
    )


grammar_filter = st.recursive(comparison, _compose, max_leaves=6)


async def _assert_filter_survives(client, scim_auth, expression: str) -> None:
    # A lone surrogate goes on the wire as the bytes a careless encoder writes (%ED%A0%80),
    # which are no UTF-8: the server must cope with those too.
    encoded = quote(expression, errors="surrogatepass")
    for resource in ("Users", "Groups"):
        response = await client.get(f"{BASE}/{resource}?filter={encoded}", headers=scim_auth)
        assert_not_a_server_error(response)
        # Control characters only: random text may well be "json" or "acme", which the
        # Content-Type and Location headers hold anyway (test_hostile_input.py checks that
        # distinctive input is never echoed).
        assert_not_reflected(response, [])
        if response.status_code == 200:
            assert response.json()["totalResults"] >= 0
        else:
            assert response.status_code == 400, response.text
    searched = await client.post(
        f"{BASE}/.search", headers=scim_auth, **as_json({"filter": expression})
    )
    assert_not_a_server_error(searched)


@given(expression=st.text(max_size=80))
async def test_random_text_filters_are_answered_or_refused(client, scim_auth, seeded, expression):
    await _assert_filter_survives(client, scim_auth, expression)


@given(expression=grammar_filter)
async def test_grammar_shaped_filters_are_answered_or_refused(
    client, scim_auth, seeded, expression
):
    await _assert_filter_survives(client, scim_auth, expression)


# -- JSON values, PATCH, bodies -----------------------------------------------------------------

USER_KEYS = [
    "schemas",
    "id",
    "externalId",
    "userName",
    "name",
    "displayName",
    "title",
    "active",
    "password",
    "emails",
    "phoneNumbers",
    "addresses",
    "groups",
    "roles",
    "meta",
    ENTERPRISE,
    "value",
    "type",
    "primary",
    "givenName",
    "manager",
    "employeeNumber",
]
json_key = st.one_of(st.sampled_from(USER_KEYS), odd_text)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # NaN and ±Infinity included: as_json sends them as JSON would never allow
    odd_text,
    st.sampled_from(["True", "False", "bulkId:x", "2011-05-13T04:42:34Z"]),
)
json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(json_key, children, max_size=3)
    ),
    max_leaves=8,
)

patch_path = st.one_of(
    st.none(),
    attribute_path,
    st.builds(lambda a, f: f"{a}[{f}]", attribute_path, grammar_filter),
    st.builds(lambda a, f, s: f"{a}[{f}].{s}", attribute_path, grammar_filter, attribute_path),
    st.sampled_from(["members", 'members[value eq "x"]', 'emails[type eq "work"].value']),
    odd_text,
    json_scalar,  # not even a string
)
patch_operation = st.one_of(
    st.fixed_dictionaries(
        {
            "op": st.one_of(
                st.sampled_from(["add", "replace", "remove", "Add", "REPLACE", "Remove", "delete"]),
                json_scalar,
            )
        },
        optional={"path": patch_path, "value": json_value},
    ),
    json_value,  # not an operation at all
)
patch_body = st.one_of(
    st.fixed_dictionaries(
        {"schemas": st.just([PATCH_OP]), "Operations": st.lists(patch_operation, max_size=4)}
    ),
    st.dictionaries(st.sampled_from(["schemas", "Operations", "operations"]), json_value),
)


def _body(schema: str, required: str) -> st.SearchStrategy[dict[str, Any]]:
    """A resource body: mostly the right shape with wrong parts, sometimes any object."""
    return st.one_of(
        st.builds(
            lambda value, rest: {"schemas": [schema], required: value, **rest},
            st.one_of(odd_text, json_value),
            st.dictionaries(json_key, json_value, max_size=4),
        ),
        st.dictionaries(json_key, json_value, max_size=5),
    )


async def _write_leaves_a_consistent_state(
    client, scim_auth, method: str, resource: str, target: str | None, body: Any
) -> None:
    """One write to `resource` (POST when `target` is None, else to that id): refused →
    nothing changed; accepted → the resource and its list read back (a write that stores what
    cannot be rendered again would break every later GET)."""
    collection = f"{BASE}/{resource}"
    url = collection if target is None else f"{collection}/{target}"
    before = await stored_state()
    response = await client.request(method, url, headers=scim_auth, **as_json(body))
    assert_not_a_server_error(response)
    if response.status_code >= 400:
        assert await stored_state() == before, (method, url, body, response.text)
        return
    written = target if target is not None else response.json()["id"]
    for read in (f"{collection}/{written}", collection):
        again = await client.get(read, headers=scim_auth)
        assert again.status_code == 200, (body, again.text)


@given(body=patch_body, resource=st.sampled_from(["Users", "Groups"]))
async def test_patches_apply_whole_or_not_at_all(client, scim_auth, seeded, body, resource):
    await _write_leaves_a_consistent_state(
        client, scim_auth, "PATCH", resource, seeded[resource], body
    )


@given(body=_body(USER_SCHEMA, "userName"), put=st.booleans())
async def test_user_bodies_are_stored_whole_or_refused(client, scim_auth, seeded, body, put):
    target = seeded["Users"] if put else None
    await _write_leaves_a_consistent_state(
        client, scim_auth, "PUT" if put else "POST", "Users", target, body
    )


@given(body=_body(GROUP_SCHEMA, "displayName"), put=st.booleans())
async def test_group_bodies_are_stored_whole_or_refused(client, scim_auth, seeded, body, put):
    target = seeded["Groups"] if put else None
    await _write_leaves_a_consistent_state(
        client, scim_auth, "PUT" if put else "POST", "Groups", target, body
    )
