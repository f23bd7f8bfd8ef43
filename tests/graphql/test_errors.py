"""What a client sees when something fails: expected errors readable (typed results, GraphQL
validation and limit errors), unexpected ones masked to "internal error" and a request id
that finds the logged traceback."""

from __future__ import annotations

import logging

import pytest

from definewtf.services import users


@pytest.fixture
def broken_user_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(**_: object) -> None:
        raise RuntimeError('relation "secret_table" does not exist')

    # Fault injection on the service the resolver calls; the database stays real.
    monkeypatch.setattr(users, "list_users", fail)


@pytest.mark.usefixtures("broken_user_listing")
async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    graphql, admin_key, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await graphql(admin_key, "{ users { totalCount } }")
    assert response.status_code == 200
    rid = response.headers["X-Request-ID"]
    body = response.json()
    (error,) = body["errors"]
    assert error["message"] == f"internal error (request id {rid})"
    assert error["extensions"] == {"code": "INTERNAL", "requestId": rid}
    assert "secret_table" not in response.text

    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.request_id == rid
    assert "secret_table" in str(record.exc_info[1])


async def test_expected_errors_stay_readable_and_are_not_logged(
    graphql, admin_key, member, caplog: pytest.LogCaptureFixture
) -> None:
    _, member_key = member
    with caplog.at_level(logging.INFO, logger="graphql_api"):
        denied = (await graphql(member_key, "{ users { totalCount } }")).json()
        invalid = (await graphql(admin_key, "{ users { nope } }")).json()
        aliases = " ".join(f"a{i}: viewer {{ label }}" for i in range(30))
        over_limit = (await graphql(admin_key, "{ " + aliases + " }")).json()
    assert "not allowed" in denied["errors"][0]["message"]
    assert "nope" in invalid["errors"][0]["message"]
    assert "aliases" in over_limit["errors"][0]["message"].lower()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
