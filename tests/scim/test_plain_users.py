"""POST and PUT's direct reading of user bodies (`scim_facade.plain_users`) against
scim2-models' validation and dump, which it short-cuts for the bodies IdPs send: wherever it
answers, it must answer what scim2-models would, key order included (SQLite keeps the
representation as written)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from idp import ENTRA_USER
from scim2_models import Context, SCIMException

from definewtf.registry import ENTERPRISE_USER_SCHEMA, USER_MULTI_VALUED, USER_SCHEMA
from scim_facade.mapping import ScimUser, from_representation
from scim_facade.plain_users import plain_user, read_user
from scim_facade.requests import POLICY, accept_internal_email_domains, validate, wrap_single_values

# As the app sets it when it builds the SCIM router (other tests build apps, in any order).
accept_internal_email_domains()

CONTEXTS = [Context.RESOURCE_CREATION_REQUEST, Context.RESOURCE_REPLACEMENT_REQUEST]

# Entra's user, with its names and addresses in the case people type them.
ENTRA = {
    **ENTRA_USER,
    "userName": "Ada.Lovelace@Example.COM",
    "emails": [{"primary": True, "type": "work", "value": "Ada.Lovelace@Example.COM"}],
    ENTERPRISE_USER_SCHEMA: {"department": "R&D", "employeeNumber": "E7"},
}
OKTA_PUT = {
    "schemas": [USER_SCHEMA],
    "id": "5b2f0c1e-0000-4000-8000-000000000001",
    "userName": "grace@example.com",
    "name": {"givenName": "Grace", "familyName": "Hopper"},
    "emails": [{"primary": True, "value": "grace@example.com", "type": "work"}],
    "displayName": "Grace Hopper",
    "locale": "en-US",
    "externalId": "00u1",
    "active": False,
}
ONELOGIN = {  # emails as one object, which `wrap_single_values` makes a list
    "schemas": [USER_SCHEMA],
    "userName": "linus@example.com",
    "emails": {"value": "linus@example.com", "primary": True},
    "nickName": "linus",
}


def _by_scim2_models(payload: dict[str, Any], context: Context) -> dict[str, Any] | None:
    try:
        resource = validate(ScimUser, payload, context)
    except SCIMException:
        return None
    if context == Context.RESOURCE_CREATION_REQUEST and resource.active is None:
        resource.active = True
    return resource.model_dump(scim_policy=POLICY)


def _both(body: dict[str, Any], context: Context) -> tuple[Any, Any]:
    payload = wrap_single_values(body, USER_MULTI_VALUED)
    active = True if context == Context.RESOURCE_CREATION_REQUEST else None
    return plain_user(payload, active=active), _by_scim2_models(payload, context)


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c.name)
@pytest.mark.parametrize("body", [ENTRA, OKTA_PUT, ONELOGIN], ids=["entra", "okta", "onelogin"])
def test_idp_bodies_are_read_directly_as_scim2_models_reads_them(
    body: dict[str, Any], context: Context
) -> None:
    direct, validated = _both(body, context)
    assert direct is not None
    assert json.dumps(direct) == json.dumps(validated)
    # What the routes made of it before: the validated resource, active by default if new.
    assert read_user(body, context) == from_representation(validated)


def _with(**changes: Any) -> dict[str, Any]:
    return {**ENTRA, **changes}


@pytest.mark.parametrize(
    "body",
    [
        _with(USERNAME="x"),  # another case of a name
        _with(password="s3cret-Passw0rd"),
        _with(meta={"resourceType": "User"}),
        _with(groups=[{"value": "g"}]),
        _with(phoneNumbers=[{"value": "+1 555 0100", "type": "work"}]),
        _with(title=None),
        _with(active="true"),
        _with(title=7),
        _with(id=7),
        _with(name={"GivenName": "Ada"}),
        _with(name={}),
        _with(emails=[{"value": "ada@example.com", "type": "Work"}]),
        _with(emails=[{"value": "ada@@example.com", "type": "work"}]),
        _with(
            emails=[
                {"value": "a@example.com", "primary": True},
                {"value": "b@example.com", "primary": True},
            ]
        ),
        _with(emails=[]),
        _with(schemas=[USER_SCHEMA.lower(), ENTERPRISE_USER_SCHEMA]),
        _with(schemas=[ENTERPRISE_USER_SCHEMA]),
        {k: v for k, v in ENTRA.items() if k != "userName"},
        _with(**{ENTERPRISE_USER_SCHEMA: {"manager": {"value": "m-1"}}}),
    ],
)
def test_other_bodies_are_left_to_scim2_models(body: dict[str, Any]) -> None:
    assert plain_user(wrap_single_values(body, USER_MULTI_VALUED)) is None


_STRINGS = ["Ada", "", " padded ", "Zoë Ünïcode", "R&D <x>", "ünï@exämple.com", "7"]
_EMAILS = ["ada@example.com", "Ada@Example.COM", "x@localhost", "ünï@exämple.com", "bad", "a@@b.co"]
_TOP = ["displayName", "nickName", "title", "userType", "preferredLanguage", "locale", "timezone"]
_NAME = ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "GivenName"]
_EXTENSION = ["employeeNumber", "costCenter", "organization", "division", "department"]


def _maybe(rng: random.Random, value: Any, wrong: list[Any]) -> Any:
    """Mostly `value`, sometimes a value of another type."""
    return rng.choice(wrong) if rng.random() < 0.08 else value


def _random_body(rng: random.Random) -> dict[str, Any]:
    schemas = rng.choice(
        [
            [USER_SCHEMA],
            [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
            [ENTERPRISE_USER_SCHEMA, USER_SCHEMA],
        ]
        * 4
        + [[], [ENTERPRISE_USER_SCHEMA], ["urn:example:other"]]
    )
    body: dict[str, Any] = {"schemas": schemas}
    if rng.random() < 0.95:
        body["userName"] = _maybe(rng, rng.choice(_STRINGS[:4]) + "@example.com", [None, 1])
    if rng.random() < 0.3:
        body["id"] = _maybe(rng, "some-id", [1, None])
    if rng.random() < 0.6:
        body["externalId"] = _maybe(rng, rng.choice(_STRINGS), [None, 2])
    if rng.random() < 0.6:
        body["active"] = _maybe(rng, rng.random() < 0.5, ["true", None])
    for key in rng.sample(_TOP, rng.randrange(len(_TOP))):
        body[key] = _maybe(rng, rng.choice(_STRINGS), [None, 3, True])
    if rng.random() < 0.6:
        parts = rng.sample(_NAME, rng.randrange(len(_NAME)))
        body["name"] = {p: _maybe(rng, rng.choice(_STRINGS), [None, 4]) for p in parts}
    if rng.random() < 0.7:
        body["emails"] = [_random_email(rng) for _ in range(rng.randrange(4))]
    if rng.random() < 0.5:
        parts = rng.sample(_EXTENSION, rng.randrange(len(_EXTENSION)))
        body[ENTERPRISE_USER_SCHEMA] = {p: _maybe(rng, rng.choice(_STRINGS), [5]) for p in parts}
    if rng.random() < 0.05:
        body[rng.choice(["password", "meta", "groups", "roles", "profileUrl"])] = "x"
    return body


def _random_email(rng: random.Random) -> dict[str, Any]:
    email: dict[str, Any] = {"value": rng.choice(_EMAILS)}
    if rng.random() < 0.7:
        email["type"] = rng.choice(["work", "home", "other", "Work", "custom"])
    if rng.random() < 0.5:
        email["primary"] = _maybe(rng, rng.random() < 0.5, ["true"])
    if rng.random() < 0.2:
        email["display"] = rng.choice(_STRINGS)
    return email


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c.name)
def test_generated_bodies_read_directly_match_scim2_models(context: Context) -> None:
    rng = random.Random(20261130)
    direct_count = 0
    for _ in range(4000):
        body = _random_body(rng)
        direct, validated = _both(body, context)
        if direct is None:
            continue
        direct_count += 1
        assert validated is not None, body
        assert json.dumps(direct) == json.dumps(validated), body
    # The comparison must have covered a good share of what IdPs send, not only refusals.
    assert direct_count > 300
