"""Secrets (DESIGN.md §4, CONVENTIONS 14, issue 7 item 7): SCIM tokens, API keys, session
tokens and passwords are shown once — in the one response that issues them — and never appear
in a log line, an audit event, a stored row, another response or an error body.

`full_run` does what issues, uses and mistypes secrets, through SCIM and GraphQL; the tests
run it in process (every log record at DEBUG, formatted as production formats them) and
against a real uvicorn server (its stderr), then search everything for every secret.

Expiry and rotation are proven in tests/scim/test_auth.py (`test_an_expired_token_is_refused`,
`test_regenerating_revokes_the_previous_token`,
`test_an_overlap_keeps_the_previous_token_until_it_ends`) and tests/graphql/test_foundation.py
(`test_overlap_keeps_previous_token_working`, `test_expired_token_is_inactive_and_refused`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from definewtf.app import create_app
from definewtf.observability import JsonFormatter
from definewtf.principals import CLI_ACTOR
from definewtf.security import PREFIX_LENGTH, Security, new_secret
from definewtf.services import tokens
from definewtf.services.tenants import TenantRecord
from definewtf.tables import ALL_TABLES, AuditEvent

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


@dataclass
class Secrets:
    """Every secret of a run, with how many response bodies may show it: 1 for a secret the
    API issues (in that response), 0 for the rest (issued by a service, or chosen by a client:
    a password, a mistyped token)."""

    shown: dict[str, int] = field(default_factory=dict)
    responses: list[httpx.Response] = field(default_factory=list)

    def add(self, secret: str, shown_once: bool = False) -> str:
        self.shown[secret] = int(shown_once)
        return secret

    def password(self, label: str) -> str:
        return self.add(f"{label}-{uuid.uuid4().hex}")

    async def record(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    def found_in(self, text: str) -> list[str]:
        """The secrets in `text`; a credential also by what follows its public prefix (the
        prefix alone is shown in logs and metadata on purpose)."""
        return [
            secret
            for secret in self.shown
            if secret in text or (len(secret) == 64 and secret[PREFIX_LENGTH:] in text)
        ]

    def check_responses(self) -> None:
        for secret, allowed in self.shown.items():
            showing = [r for r in self.responses if secret in r.text]
            assert len(showing) == allowed, (secret[:PREFIX_LENGTH], [r.text for r in showing])


async def full_run(
    http: httpx.AsyncClient,
    *,
    acme: TenantRecord,
    admin_key: str,
    scim_token: str,
    security: Security,
) -> Secrets:
    """Issue, use and mistype every kind of secret; every response is kept in the result."""
    secrets = Secrets()
    http.event_hooks["response"].append(secrets.record)
    secrets.add(admin_key)
    secrets.add(scim_token)

    async def gql(query: str, variables: dict[str, Any] | None = None, key: str = admin_key):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        answer = await http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return answer.json()

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # SCIM tokens: by the CLI's service (regenerate, with an overlap) and by GraphQL.
    by_cli = await tokens.generate_scim_token(
        tenant_id=acme.id, actor=CLI_ACTOR, security=security, overlap_minutes=30
    )
    secrets.add(by_cli.token)
    generated = await gql(
        "mutation { generateScimToken(overlapMinutes: 30) { ... on GeneratedScimToken { token } } }"
    )
    by_api = secrets.add(generated["data"]["generateScimToken"]["token"], shown_once=True)
    for token in (scim_token, by_cli.token, by_api):
        assert (await http.get("/api/scim/Users", headers=bearer(token))).status_code == 200
    wrong = secrets.add(by_api[:PREFIX_LENGTH] + new_secret()[PREFIX_LENGTH:])
    assert (await http.get("/api/scim/Users", headers=bearer(wrong))).status_code == 401
    malformed = {"Authorization": f"Bearer {by_api} {secrets.password('trailing')}"}
    assert (await http.get("/api/scim/Users", headers=malformed)).status_code == 401

    # Passwords through SCIM: create, PATCH, a failing create and PATCH, a Bulk.
    scim = bearer(by_api)
    created = await http.post(
        "/api/scim/Users",
        json={"schemas": [USER], "userName": "pw@acme.test", "password": secrets.password("scim")},
        headers=scim,
    )
    assert created.status_code == 201, created.text
    user = f"/api/scim/Users/{created.json()['id']}"

    def password_patch(value: Any) -> dict[str, Any]:
        return {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "password", "value": value}],
        }

    patched = await http.patch(user, json=password_patch(secrets.password("patch")), headers=scim)
    assert patched.status_code == 200, patched.text
    for bad in (
        {"schemas": [USER], "password": secrets.password("no-username")},
        {"schemas": [USER], "userName": "x@acme.test", "password": [secrets.password("list")]},
        {"schemas": [USER], "userName": ["x"], "password": secrets.password("bad-username")},
    ):
        refused = await http.post("/api/scim/Users", json=bad, headers=scim)
        assert refused.status_code == 400, refused.text
    bad_patch = password_patch({"v": secrets.password("obj")})
    refused = await http.patch(user, json=bad_patch, headers=scim)
    assert refused.status_code == 400, refused.text
    bulk = await http.post(
        "/api/scim/Bulk",
        json={
            "schemas": [BULK],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "a",
                 "data": {"schemas": [USER], "userName": "bulk@acme.test", "password": secrets.password("bulk")}},  # noqa: E501
                {"method": "POST", "path": "/Users", "bulkId": "b",
                 "data": {"schemas": [USER], "password": secrets.password("bulk-bad")}},
            ],
        },
        headers=scim,
    )  # fmt: skip
    assert [op["status"] for op in bulk.json()["Operations"]] == ["201", "400"], bulk.text

    # Passwords and sessions through GraphQL.
    first = secrets.password("gql")
    made = await gql(
        'mutation($p: String!) { createUser(input: {userName: "jo@acme.test", password: $p}) '
        "{ ... on User { id } } }",
        {"p": first},
    )
    jo = made["data"]["createUser"]["id"]
    # Values GraphQL itself refuses (a misspelt input field, a wrong type): graphql-core's
    # message quotes them; the answer names the variable only, and nothing is logged.
    misspelt = {"userName": "x@acme.test", "password": secrets.password("typo"), "givenname": "X"}
    refused_input = await gql(
        "mutation($i: CreateUserInput!) { createUser(input: $i) { __typename } }", {"i": misspelt}
    )
    assert refused_input["errors"][0]["message"] == (
        "Variable '$i' got an invalid value for CreateUserInput!"
    )
    wrong_type = {"p": {"value": secrets.password("wrong-type")}}
    refused_type = await gql(
        'mutation($p: String!) { login(email: "jo@acme.test", password: $p) { __typename } }',
        wrong_type,
        key="",
    )
    assert refused_type["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused_type
    login = """mutation($e: String!, $p: String!) { login(email: $e, password: $p) {
      __typename ... on LoginSession { token } ... on LoginFailed { message } } }"""
    session = await gql(login, {"e": "jo@acme.test", "p": first}, key="")
    old_session = secrets.add(session["data"]["login"]["token"], shown_once=True)
    failed = await gql(login, {"e": "jo@acme.test", "p": secrets.password("wrong")}, key="")
    assert failed["data"]["login"]["__typename"] == "LoginFailed"
    failed = await gql(login, {"e": "nobody@acme.test", "p": secrets.password("nobody")}, key="")
    assert failed["data"]["login"]["__typename"] == "LoginFailed"

    async def set_password(password: str) -> str:
        answer = await gql(
            "mutation($u: ID!, $p: String!) { setPassword(userId: $u, password: $p) "
            "{ __typename } }",
            {"u": jo, "p": password},
        )
        return str(answer["data"]["setPassword"]["__typename"])

    second = secrets.password("set")
    assert await set_password(second) == "Done"
    assert await set_password(secrets.add("Sh0rt" + uuid.uuid4().hex[:6])) == "InvalidError"
    # The password change ended the session; a new one ends by logout.
    viewer = {"query": "{ viewer { label } }"}
    ended = await http.post("/graphql", json=viewer, headers=bearer(old_session))
    assert ended.status_code == 401
    session = await gql(login, {"e": "jo@acme.test", "p": second}, key="")
    new_session = secrets.add(session["data"]["login"]["token"], shown_once=True)
    assert (await gql("{ viewer { label } }", key=new_session))["data"]["viewer"]["label"]
    assert (await gql("mutation { logout { ok } }", key=new_session))["data"]["logout"]["ok"]

    # API keys: by GraphQL; used; then a request that fails with one in its text.
    issued = await gql('mutation { createApiKey(name: "script") { ... on CreatedApiKey { key } } }')
    key = secrets.add(issued["data"]["createApiKey"]["key"], shown_once=True)
    assert (await gql("{ viewer { label } }", key=key))["data"]["viewer"]["label"]
    syntax_error = await gql(f'mutation {{ login(email: "jo@acme.test", password: "{second}" ')
    assert syntax_error["errors"], syntax_error
    assert (await http.get("/graphql", headers=bearer(wrong))).status_code == 401

    # The audit trail as an admin reads it (that response is searched like the others).
    audit = await gql(
        "{ auditEvents(first: 100) { totalCount edges { node { actor actorType action "
        "targetType targetId before after requestId } } } }"
    )
    assert audit["data"], audit
    assert audit["data"]["auditEvents"]["totalCount"] > 10
    http.event_hooks["response"].remove(secrets.record)
    return secrets


async def stored_rows() -> str:
    """Every row of every table, as text."""
    tables = {table._meta.tablename: await table.select() for table in ALL_TABLES}
    return json.dumps(tables, default=str)


@pytest.fixture
def every_log_record(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record of every logger at DEBUG (ours are INFO in production: this sees more)."""
    for name in (None, "definewtf", "scim_facade", "graphql_api"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_no_secret_in_logs_audit_rows_or_other_responses(
    client, acme, admin_key, scim_token, security, every_log_record
) -> None:
    secrets = await full_run(
        client, acme=acme, admin_key=admin_key, scim_token=scim_token, security=security
    )
    records = every_log_record.records
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in records]
    parsed = [json.loads(line) for line in lines]
    request_lines = [line for line in parsed if line["logger"] == "definewtf.request"]
    # Not vacuous: a request line per response the test saw (the Bulk's operations are
    # requests too), and every logger speaks at DEBUG.
    assert len(request_lines) >= len(secrets.responses)
    assert logging.getLogger("definewtf.request").isEnabledFor(logging.DEBUG)
    assert secrets.found_in("\n".join(lines)) == []
    assert secrets.found_in(every_log_record.text) == []

    audit_rows = await AuditEvent.select().where(AuditEvent.tenant == acme.id)
    assert len(audit_rows) > 10
    assert secrets.found_in(json.dumps(audit_rows, default=str)) == []
    assert secrets.found_in(await stored_rows()) == []
    secrets.check_responses()


def _request_lines(log: str) -> int:
    """The request lines in a JSON log (other lines may be uvicorn's own, in plain text)."""
    lines = [line for line in log.splitlines() if line.startswith("{")]
    return sum(json.loads(line)["msg"] == "request" for line in lines)


async def test_no_secret_in_a_real_servers_log(
    client, acme, admin_key, scim_token, security, uvicorn_server: str, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(
        base_url=uvicorn_server, headers={"Host": "acme.localhost"}, timeout=30
    ) as http:
        secrets = await full_run(
            http, acme=acme, admin_key=admin_key, scim_token=scim_token, security=security
        )
    log = tmp_path / "uvicorn.log"
    # The server logs a request after answering it: wait for the last line.
    deadline = time.monotonic() + 10
    while _request_lines(log.read_text()) < len(secrets.responses):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        await asyncio.sleep(0.05)
    assert secrets.found_in(log.read_text()) == []
    secrets.check_responses()


# -- constant-time comparisons --------------------------------------------------------------


async def test_secrets_are_compared_in_constant_time(
    client, scim_token, security: Security, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    """Where each comparison happens: credentials and passwords by argon2's verify (constant
    time in libargon2), also for an unknown email (against a dummy hash, so timing does not
    tell who has an account); the metrics token by `hmac.compare_digest`."""
    before = security.hasher.verifications
    wrong = scim_token[:PREFIX_LENGTH] + new_secret()[PREFIX_LENGTH:]
    assert (
        await client.get("/api/scim/Users", headers={"Authorization": f"Bearer {wrong}"})
    ).status_code == 401
    assert security.hasher.verifications == before + 1
    login = 'mutation { login(email: "nobody@acme.test", password: "whatever") { __typename } }'
    assert (await client.post("/graphql", json={"query": login})).json()["data"]["login"] == {
        "__typename": "LoginFailed"
    }
    assert security.hasher.verifications == before + 2

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    guarded = create_app(replace(settings, metrics_token="scrape-secret"))
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        wrong_token = {"Authorization": "Bearer scrape-secreT"}
        assert (await c.get("/metrics", headers=wrong_token)).status_code == 404
    assert compared == [(b"scrape-secreT", b"scrape-secret")]
