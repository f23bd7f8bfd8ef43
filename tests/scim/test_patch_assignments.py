"""PATCH's fast path (`simple_assignments` + `assign`) against scim2-models' own application
(`parse_patch` + `PatchOp.patch`), which it short-cuts for the PATCHes IdPs send most: for
every attribute the registry marks settable, the resulting user must be the same."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from idp import ENTRA_USER

from definewtf.registry import ENTERPRISE_USER_SCHEMA, USER_ATTRIBUTES, USER_SCHEMA
from definewtf.services.users import UserData
from scim_facade.mapping import ScimUser, assign, from_scim_user, scim_user_of
from scim_facade.patch import PATCH_OP_SCHEMA, parse_patch, simple_assignments
from scim_facade.requests import POLICY

USERS_URL = "https://acme.example.test/api/scim/Users"

STARTS = {
    "entra": {
        **ENTRA_USER,
        ENTERPRISE_USER_SCHEMA: {"department": "R&D", "manager": {"value": "m-1"}},
    },
    "bare": {"schemas": [USER_SCHEMA], "userName": "bare@example.com"},
}
SETTABLE = sorted(key for key, spec in USER_ATTRIBUTES.items() if spec.settable)


def _user(start: str) -> UserData:
    return from_scim_user(ScimUser.model_validate(STARTS[start], scim_policy=POLICY))


def _by_scim2_models(data: UserData, payload: dict[str, Any]) -> UserData:
    resource = scim_user_of(data)
    parse_patch(payload, USERS_URL).patch(resource, scim_policy=POLICY)
    return from_scim_user(resource)


def _comparable(data: UserData) -> dict[str, Any]:
    fields = dataclasses.asdict(data)
    fields["values"] = sorted(dataclasses.astuple(v) for v in data.values or ())
    return fields


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
    assignments = simple_assignments(payload)
    assert assignments is not None
    data = _user(start)
    assert _comparable(assign(data, assignments)) == _comparable(_by_scim2_models(data, payload))


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
    ]
    data = _user(start)
    for payload in payloads:
        assignments = simple_assignments(payload)
        assert assignments is not None, payload
        fast = assign(data, assignments)
        assert _comparable(fast) == _comparable(_by_scim2_models(data, payload))
        data = fast


@pytest.mark.parametrize(
    "payload",
    [
        _patch({"op": "replace", "path": "active", "value": "False"}),  # Entra's string
        _patch({"op": "replace", "path": "title", "value": 7}),
        _patch({"op": "replace", "path": "title", "value": ""}),
        _patch({"op": "replace", "path": "title", "value": None}),
        _patch({"op": "remove", "path": "title"}),
        _patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@b.c"}),
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
    assert simple_assignments(payload) is None
