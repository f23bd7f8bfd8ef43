"""PATCH's fast path (`simple_assignments` + `assign`) against scim2-models' own application
(`parse_patch` + `PatchOp.patch`), which it short-cuts for the PATCHes IdPs send most: for
every attribute the registry marks settable, and every sub-attribute it marks settable in the
entries a `type` selects, the resulting user must be the same, the entries' key order
included (SQLite keeps the representation as written)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from idp import ENTRA_USER

from definewtf.registry import ENTERPRISE_USER_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA
from definewtf.services.users import UserData
from scim_facade.mapping import ScimUser, assign, from_scim_user, scim_user_of
from scim_facade.patch import PATCH_OP_SCHEMA, parse_patch, simple_assignments
from scim_facade.requests import POLICY, accept_internal_email_domains

# As the app sets it when it builds the SCIM router (other tests build apps, in any order).
accept_internal_email_domains()

USERS_URL = "https://acme.example.test/api/scim/Users"

STARTS = {
    "entra": {
        **ENTRA_USER,
        ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "m-1"}},
    },
    "bare": {"schemas": [USER_SCHEMA], "userName": "bare@example.com"},
    # Entries of several types, two of one type, one without a type, types as people type them.
    "several": {
        "schemas": [USER_SCHEMA],
        "userName": "several@example.com",
        "emails": [
            {"value": "w@example.com", "type": "Work", "primary": True},
            {"value": "h@example.com", "type": "home"},
            {"value": "u@example.com"},
        ],
        "phoneNumbers": [
            {"value": "+1 555 0100", "type": "mobile"},
            {"value": "+1 555 0101", "type": "mobile", "display": "second"},
            {"value": "+1 555 0102", "type": "work", "primary": True},
        ],
        "addresses": [{"streetAddress": "1 Main St", "type": "home", "country": "FR"}],
        "ims": [{"value": "ada", "type": "xmpp"}],
        "photos": [{"value": "https://example.com/a.png", "type": "photo"}],
        ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m-2", "displayName": "Boss"}},
    },
}
MANAGER = f"{ENTERPRISE_USER_SCHEMA}:manager"
MANAGER_ID = "5b2f0c1e-0000-4000-8000-000000000001"
SETTABLE = sorted(key for key, spec in USER_ATTRIBUTES.items() if spec.settable)
#: (path, value) for every sub-attribute settable in typed entries, with every type.
ENTRY_PATHS = sorted(
    (f'{spec.location[0]}[type eq "{kind}"].{spec.location[1]}', spec.key)
    for spec in USER_ATTRIBUTES.values()
    if spec.entry_settable
    for kind in USER_ATTRIBUTES[f"{spec.attr}.type"].canonical_values
)


def _user(start: str) -> UserData:
    return from_scim_user(ScimUser.model_validate(STARTS[start], scim_policy=POLICY))


def _by_scim2_models(data: UserData, payload: dict[str, Any]) -> UserData:
    resource = scim_user_of(data)
    parse_patch(payload, USERS_URL).patch(resource, scim_policy=POLICY)
    return from_scim_user(resource)


def _comparable(data: UserData | None) -> dict[str, Any]:
    assert data is not None
    fields = dataclasses.asdict(data)
    fields["values"] = sorted(dataclasses.astuple(v) for v in data.values or ())
    # The order of an entry's keys as stored (dicts compare equal in any order).
    fields["entry keys"] = {
        name: [list(entry) for entry in value]
        for name, value in data.attributes.items()
        if isinstance(value, list) and all(isinstance(entry, dict) for entry in value)
    }
    return fields


def _applied_as_scim2_models(data: UserData, payload: dict[str, Any]) -> UserData:
    """`payload` applied to `data` by the fast path, which must take it and give what
    scim2-models gives."""
    assignments = simple_assignments(payload, USERS_URL)
    assert assignments is not None, payload
    fast = assign(data, assignments)
    assert _comparable(fast) == _comparable(_by_scim2_models(data, payload))
    assert fast is not None
    return fast


def _patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": list(operations)}


def _value(key: str) -> Any:
    return False if USER_ATTRIBUTES[key].kind == "boolean" else "Nouvelle valeur é"


def test_the_settable_attributes_are_the_ones_idps_patch() -> None:
    """What Entra's and Okta's attribute sync and deactivation send is on the fast path."""
    expected = {
        "active",
        "displayname",
        "name.givenname",
        "name.familyname",
        "title",
        "username",
        "externalid",
        f"{ENTERPRISE_USER_SCHEMA.lower()}:department",
    }
    assert expected <= set(SETTABLE)
    assert not {"emails", "emails.value", "groups", "password", "id", "meta.created"} & set(
        SETTABLE
    )


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("op", ["replace", "Replace", "add"])
@pytest.mark.parametrize("key", SETTABLE)
def test_a_settable_attribute_is_set_as_scim2_models_sets_it(start: str, op: str, key: str) -> None:
    spec = USER_ATTRIBUTES[key]
    path = (
        ".".join(spec.location)
        if not spec.location[0].startswith("urn:")
        else (f"{spec.location[0]}:{'.'.join(spec.location[1:])}")
    )
    payload = _patch({"op": op, "path": path, "value": _value(key)})
    _applied_as_scim2_models(_user(start), payload)


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("value", ["False", "false", "TRUE", "True"])
def test_a_boolean_sent_as_a_string_is_read_as_scim2_models_does(start: str, value: str) -> None:
    """Entra's default dialect deactivates with `"value": "False"`."""
    payload = _patch({"op": "Replace", "path": "active", "value": value})
    _applied_as_scim2_models(_user(start), payload)


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("op", ["Add", "replace"])
@pytest.mark.parametrize("value", [MANAGER_ID, {"value": MANAGER_ID}, MANAGER_ID.upper()])
def test_a_manager_by_id_is_set_as_scim2_models_sets_it(start: str, op: str, value: Any) -> None:
    """Entra links a manager by the manager's id; the other parts of a stored manager stay."""
    payload = _patch({"op": op, "path": MANAGER, "value": value})
    _applied_as_scim2_models(_user(start), payload)


def test_the_entry_settable_sub_attributes_are_the_ones_entra_patches() -> None:
    """Entra's attribute sync of emails, phone numbers and addresses is on the fast path;
    `type` and `primary`, references and readOnly groups are not."""
    settable = {key for key, spec in USER_ATTRIBUTES.items() if spec.entry_settable}
    assert {
        "emails.value",
        "phonenumbers.value",
        "addresses.streetaddress",
        "addresses.locality",
        "addresses.region",
        "addresses.postalcode",
        "addresses.country",
        "addresses.formatted",
    } <= settable
    assert not {"emails.type", "emails.primary", "photos.value", "groups.display"} & settable


@pytest.mark.parametrize("start", sorted(STARTS))
@pytest.mark.parametrize("op", ["Replace", "add"])
@pytest.mark.parametrize(("path", "key"), ENTRY_PATHS)
def test_a_typed_entry_is_set_as_scim2_models_sets_it(
    start: str, op: str, path: str, key: str
) -> None:
    """A matching entry (every one, when several match) gets the value; without one, an entry
    of that type is added."""
    value = "Nouvelle.Valeur@Example.COM" if key == "emails.value" else "Nouvelle valeur é"
    payload = _patch({"op": op, "path": path, "value": value})
    _applied_as_scim2_models(_user(start), payload)


def test_a_type_is_stored_as_the_schema_writes_it() -> None:
    """`assign` matches a `type` by equality: it relies on every write storing the schema's
    own spelling of it, whatever the client sent."""
    stored = _user("several").attributes
    assert [e.get("type") for e in stored["emails"]] == ["work", "home", None]


@pytest.mark.parametrize("start", sorted(STARTS))
def test_an_entra_sync_and_an_okta_deactivation_match_scim2_models(start: str) -> None:
    payloads = [
        _patch(
            {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
            {"op": "Replace", "path": "title", "value": "Countess"},
            {"op": "Add", "path": f"{ENTERPRISE_USER_SCHEMA}:department", "value": "Maths"},
        ),
        _patch({"op": "replace", "value": {"active": False}}),
        _patch({"op": "replace", "value": {"displayName": "A. L.", "userName": "al@example.com"}}),
        _patch({"op": "Add", "value": {"title": "Lady", "active": True, "nickName": "Ada"}}),
        _patch(
            {"op": "replace", "path": "title", "value": "One"},
            {"op": "replace", "path": "TITLE", "value": "Two"},
        ),
        # Entra's attribute sync of a person's contact details, in one PATCH.
        _patch(
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ada@example.org"},
            {"op": "Replace", "path": 'phoneNumbers[type eq "work"].value', "value": "+44 1"},
            {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+44 7"},
            {"op": "Add", "path": 'addresses[type eq "work"].streetAddress', "value": "12 St"},
            {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "London"},
            {"op": "Replace", "path": "name.familyName", "value": "King"},
            {"op": "Add", "path": MANAGER, "value": MANAGER_ID},
        ),
        _patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "b@example.org"}),
        # Entra's path-less form (aadOptscim062020), the manager among its keys.
        _patch({"op": "replace", "value": {MANAGER: MANAGER_ID, "active": "True"}}),
    ]
    data = _user(start)
    for payload in payloads:
        data = _applied_as_scim2_models(data, payload)


@pytest.mark.parametrize(
    "payload",
    [
        _patch({"op": "replace", "path": "active", "value": "no"}),
        _patch({"op": "replace", "path": "active", "value": " False"}),
        _patch({"op": "replace", "path": "title", "value": 7}),
        _patch({"op": "replace", "path": "title", "value": ""}),
        _patch({"op": "replace", "path": "title", "value": None}),
        _patch({"op": "remove", "path": "title"}),
        _patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "not an email"}),
        _patch({"op": "replace", "path": 'emails[type eq "Work"].value', "value": "a@b.example"}),
        _patch({"op": "replace", "path": 'emails[type eq "custom"].value', "value": "a@b.example"}),
        _patch({"op": "replace", "path": 'emails[type eq "work"].type', "value": "home"}),
        _patch({"op": "replace", "path": 'emails[type eq "work"].primary', "value": True}),
        _patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": ""}),
        _patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": None}),
        _patch({"op": "replace", "path": 'emails[value eq "a@b.example"].display', "value": "x"}),
        _patch({"op": "replace", "path": 'emails[type eq "work" and primary eq true].value'}),
        _patch({"op": "replace", "path": 'emails[type eq "work"]', "value": {"value": "a@b.c"}}),
        _patch({"op": "replace", "path": 'photos[type eq "photo"].value', "value": "https://x"}),
        _patch({"op": "replace", "path": 'groups[type eq "direct"].display', "value": "x"}),
        _patch({"op": "remove", "path": 'phoneNumbers[type eq "work"].value'}),
        _patch({"op": "Add", "path": MANAGER, "value": "not-an-id"}),
        _patch({"op": "Add", "path": MANAGER, "value": f"urn:uuid:{MANAGER_ID}"}),
        _patch({"op": "Add", "path": MANAGER, "value": 7}),
        _patch({"op": "Add", "path": MANAGER, "value": ""}),
        _patch({"op": "Add", "path": MANAGER, "value": None}),
        _patch({"op": "Add", "path": MANAGER, "value": {"value": MANAGER_ID, "$ref": "x"}}),
        _patch({"op": "Add", "path": MANAGER, "value": {"value": MANAGER_ID, "displayName": "B"}}),
        _patch({"op": "remove", "path": MANAGER}),
        # A key of a path-less value is an attribute, never a filter: scim2-models drops it.
        _patch({"op": "replace", "value": {'emails[type eq "work"].value': "c@example.org"}}),
        _patch({"op": "replace", "path": "name", "value": {"givenName": "A"}}),
        _patch({"op": "replace", "path": "id", "value": "x"}),
        _patch({"op": "replace", "path": "noSuchAttribute", "value": "x"}),
        _patch({"op": "replace", "value": {"name": {"givenName": "A"}}}),
        _patch({"op": "move", "path": "title", "value": "x"}),
        _patch({"op": "replace", "path": "title", "value": "x", "extra": 1}),
        _patch(),
        {
            "schemas": ["urn:wrong"],
            "Operations": [{"op": "replace", "path": "title", "value": "x"}],
        },
        {"Operations": [{"op": "replace", "path": "title", "value": "x"}]},
        {"schemas": [PATCH_OP_SCHEMA], "operations": [{"op": "replace", "path": "title"}]},
    ],
)
def test_anything_else_is_left_to_scim2_models(payload: dict[str, Any]) -> None:
    assert simple_assignments(payload, USERS_URL) is None


@pytest.mark.parametrize(
    "emails",
    [
        # Two primary values: scim2-models refuses to change the list, and says so.
        [
            {"value": "a@example.com", "type": "work", "primary": True},
            {"value": "b@example.com", "type": "home", "primary": True},
        ],
        # A key of no schema, kept by the tolerant policy: what becomes of it is the model's.
        [{"value": "a@example.com", "type": "work", "x-custom": 1}],
    ],
)
def test_entries_only_scim2_models_decides_are_left_to_it(emails: list[dict[str, Any]]) -> None:
    body = {"schemas": [USER_SCHEMA], "userName": "edge@example.com", "emails": emails}
    data = from_scim_user(ScimUser.model_validate(body, scim_policy=POLICY))
    payload = _patch(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "c@example.com"}
    )
    assignments = simple_assignments(payload, USERS_URL)
    assert assignments is not None
    assert assign(data, assignments) is None  # the route applies it with scim2-models then
