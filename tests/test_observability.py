"""What the engineer on call sees: one JSON log line per request with its id, Prometheus
metrics per route and tenant, and the SCIM provisioning status (`scimStatus`) fed by the
same observation of each request."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from definewtf.app import create_app
from definewtf.clock import utcnow
from definewtf.observability import JsonFormatter
from definewtf.principals import CLI_ACTOR
from definewtf.services import scim_activity, tokens
from definewtf.tables import ScimActivity

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
STATUS = """{ scimStatus { lastRequestAt lastSuccessAt lastError lastErrorAt requestsLast24h
  errorsLast24h usersProvisioned } }"""


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """The request log lines, formatted as production formats them."""
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(r)) for r in caplog.records if r.name == "definewtf.request"
    ]


async def test_one_json_line_per_request_with_its_id_and_never_the_secret(
    client, scim_auth, scim_token, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="definewtf.request"):
        created = await client.post(
            "/api/scim/Users", json={"schemas": [CORE], "userName": "a@x.test"}, headers=scim_auth
        )
        fetched = await client.get(f"/api/scim/Users/{created.json()['id']}", headers=scim_auth)
        unknown = await client.get("/no/such/route")
    lines = request_lines(caplog)
    assert len(lines) == 3
    post, get, nowhere = lines
    assert post["request_id"] == created.headers["X-Request-ID"]
    assert get["request_id"] == fetched.headers["X-Request-ID"]
    assert post["request_id"] != get["request_id"]
    assert (post["method"], post["route"], post["status"]) == ("POST", "/api/scim/Users", 201)
    assert get["route"] == "/api/scim/Users/{user_id}"
    assert get["path"] == f"/api/scim/Users/{created.json()['id']}"
    assert post["tenant"] == "acme"
    assert post["credential"] == f"scim_token:{scim_token[:12]}"
    assert isinstance(post["duration_ms"], float)
    # Unmatched routes are observed too.
    assert unknown.status_code == 404
    assert nowhere["request_id"] == unknown.headers["X-Request-ID"]
    assert (nowhere["route"], nowhere["status"]) == ("(unmatched)", 404)
    assert scim_token not in caplog.text
    assert scim_token[12:] not in json.dumps(lines)


async def test_request_id_from_the_client_is_kept_only_when_well_formed(client) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "idp-retry.42_A"})
    assert kept.headers["X-Request-ID"] == "idp-retry.42_A"
    for hostile in ("a b", "x" * 65, "<script>", "a\tb"):
        answered = await client.get("/healthz", headers={"X-Request-ID": hostile})
        assert re.fullmatch(r"[0-9a-f]{32}", answered.headers["X-Request-ID"]), hostile


async def test_metrics_count_requests_per_route_and_tenant(client, scim_auth) -> None:
    for _ in range(3):
        await client.get("/api/scim/Users", headers=scim_auth)
    await client.get("/api/scim/Users", headers={"Authorization": "Bearer nope"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def sample(name: str, **labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no {name} {labels}")

    route = {"route": "/api/scim/Users", "method": "GET", "tenant": "acme"}
    assert sample("definewtf_requests_total", status="200", **route) == 3
    assert sample("definewtf_requests_total", status="401", **route) == 1
    assert sample("definewtf_request_duration_seconds_count", **route) == 4
    assert sample("definewtf_request_duration_seconds_bucket", le="+Inf", **route) == 4


async def test_metrics_are_for_the_scraper_only(settings) -> None:
    app = create_app(settings)
    outsider = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000))
    async with httpx.AsyncClient(transport=outsider, base_url="http://localhost") as c:
        assert (await c.get("/metrics")).status_code == 404

    guarded = create_app(dataclasses.replace(settings, metrics_token="s3cret-scrape"))
    transport = httpx.ASGITransport(app=guarded)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
        assert (await c.get("/metrics")).status_code == 404
        wrong = {"Authorization": "Bearer s3cret-scrapE"}
        assert (await c.get("/metrics", headers=wrong)).status_code == 404
        right = {"Authorization": "Bearer s3cret-scrape"}
        assert (await c.get("/metrics", headers=right)).status_code == 200


async def test_scim_status_follows_the_idp(client, scim_auth, graphql, admin_key, globex) -> None:
    idle = (await graphql(admin_key, STATUS)).json()["data"]["scimStatus"]
    assert idle["lastRequestAt"] is None
    assert idle["requestsLast24h"] == idle["errorsLast24h"] == 0

    await client.post(
        "/api/scim/Users", json={"schemas": [CORE], "userName": "a@x.test"}, headers=scim_auth
    )
    await client.get("/api/scim/Users", headers={"Authorization": "Bearer revoked-or-typo"})
    missing = "/api/scim/Users/00000000-0000-4000-8000-000000000000"
    await client.get(missing, headers=scim_auth)
    # Another tenant's traffic and GraphQL requests are not this tenant's SCIM activity.
    other = await tokens.generate_scim_token(
        tenant_id=globex.id, actor=CLI_ACTOR, security=client._transport.app.state.runtime.security
    )
    await client.get(
        "/api/scim/Users",
        headers={"Host": "globex.localhost", "Authorization": f"Bearer {other.token}"},
    )
    await graphql(admin_key, "{ viewer { label } }")

    status = (await graphql(admin_key, STATUS)).json()["data"]["scimStatus"]
    assert status["requestsLast24h"] == 3
    assert status["errorsLast24h"] == 2
    assert status["lastError"].startswith("404 GET /api/scim/Users/{user_id}: User ")
    assert status["lastSuccessAt"] <= status["lastErrorAt"] == status["lastRequestAt"]
    listing = (await client.get("/api/scim/Users", headers=scim_auth)).json()
    users_now = (await graphql(admin_key, "{ users { totalCount } }")).json()
    # The provisioned user and the admin behind admin_key: what SCIM and the console count.
    assert status["usersProvisioned"] == users_now["data"]["users"]["totalCount"] == 2
    assert listing["totalResults"] == 2

    recovered = (await graphql(admin_key, STATUS)).json()["data"]["scimStatus"]
    assert recovered["lastSuccessAt"] == recovered["lastRequestAt"]
    assert recovered["lastError"] == status["lastError"]  # the last error stays visible


async def test_counts_of_every_process_add_up(client, acme, admin_key) -> None:
    """Each server process flushes its own rows; the status sums them, and a failed attempt
    (here: 401) shows as the last error whichever process saw it."""
    workers = [scim_activity.ActivityLog(), scim_activity.ActivityLog()]
    for _ in range(5):
        workers[0].record(acme.id, ok=True)
    workers[1].record(acme.id, ok=False, error="401 GET /api/scim/Users: invalid token")
    for worker in workers:
        await worker.flush()
    workers[0].record(acme.id, ok=True)
    await workers[0].flush()  # adds to its existing row of this hour

    status = await scim_activity.scim_status(
        tenant_id=acme.id, actor=CLI_ACTOR, activity=scim_activity.ActivityLog()
    )
    assert (status.requests_last_24h, status.errors_last_24h) == (7, 1)
    assert status.last_error == "401 GET /api/scim/Users: invalid token"


async def test_each_request_counts_in_the_hour_it_was_answered_in(
    acme, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process remembers the hour it counts in: the first request past it, and one the
    clock sent back before it, count in their own hours."""
    top = utcnow().replace(minute=0, second=0)
    answered = [top - timedelta(seconds=1), top, top + timedelta(minutes=59, seconds=59)]
    answered += [top - timedelta(seconds=2), top + timedelta(hours=1)]
    clock = iter(answered)
    monkeypatch.setattr(scim_activity, "utcnow", lambda: next(clock))
    worker = scim_activity.ActivityLog()
    for ok in (True, False, True, True, True):
        worker.record(acme.id, ok=ok, error=None if ok else "500 GET /api/scim/Users")
    monkeypatch.undo()
    await worker.flush()

    rows = (
        await ScimActivity.select()
        .where(ScimActivity.tenant == acme.id)
        .order_by(ScimActivity.hour)
    )
    before, this, after = top - timedelta(hours=1), top, top + timedelta(hours=1)
    assert [(r["hour"], r["requests"], r["errors"]) for r in rows] == [
        (before, 2, 0),
        (this, 2, 1),
        (after, 1, 0),
    ]
    assert [r["last_request_at"] for r in rows] == [answered[0], answered[2], answered[4]]
    assert rows[1]["last_error_at"] == top


async def test_scim_status_is_for_admins(graphql, member) -> None:
    _, member_key = member
    denied = (await graphql(member_key, STATUS)).json()
    assert denied["data"] is None
    assert "admin" in denied["errors"][0]["message"]


@dataclasses.dataclass
class RequestLog:
    handler: logging.StreamHandler
    buffer: io.StringIO
    records: list[logging.LogRecord]

    def alone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Our handler alone on the root logger, as `definewtf serve` has it: pytest adds its
        own at the start of each test's call."""
        monkeypatch.setattr(logging.root, "handlers", [self.handler])


@pytest.fixture
def request_log(monkeypatch: pytest.MonkeyPatch, client) -> Iterator[RequestLog]:
    """The app's JSON handler writing to a buffer, and the request log records made."""
    (ours,) = [h for h in logging.root.handlers if getattr(h, "definewtf", False)]
    records: list[logging.LogRecord] = []
    make_record = logging.Logger.makeRecord

    def counted(self: logging.Logger, *args, **kwargs) -> logging.LogRecord:
        record = make_record(self, *args, **kwargs)
        if record.name == "definewtf.request":
            records.append(record)
        return record

    monkeypatch.setattr(logging.Logger, "makeRecord", counted)
    buffer = io.StringIO()
    previous = ours.setStream(buffer)
    yield RequestLog(ours, buffer, records)
    ours.setStream(previous)


def written_request_lines(buffer: io.StringIO) -> dict[str, dict]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return {line["request_id"]: line for line in lines if line["logger"] == "definewtf.request"}


async def test_a_request_line_written_directly_is_the_line_logging_writes(
    client, scim_auth, request_log: RequestLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the JSON handler alone on the way, the request line is written without a
    LogRecord; with anything else on the way it goes through `logging`, formatted by
    JsonFormatter. The two lines are the same."""
    request_log.alone(monkeypatch)
    direct = await client.get("/api/scim/Users?count=1", headers=scim_auth)
    monkeypatch.setattr(logging.getLogger("definewtf.request"), "filters", [lambda record: True])
    formatted = await client.get("/api/scim/Users?count=1", headers=scim_auth)
    assert len(request_log.records) == 1  # the second request's
    lines = written_request_lines(request_log.buffer)
    one, other = lines[direct.headers["X-Request-ID"]], lines[formatted.headers["X-Request-ID"]]
    assert list(one) == list(other)
    varying = {"ts", "request_id", "duration_ms"}
    assert {k: v for k, v in one.items() if k not in varying} == {
        k: v for k, v in other.items() if k not in varying
    }
    assert one["tenant"] == "acme"
    assert (one["level"], one["msg"], one["status"]) == ("info", "request", 200)
    for line in (one, other):
        written = datetime.fromisoformat(line["ts"])
        assert abs(written - utcnow()) < timedelta(minutes=1)


def _handler_on_the_parent(monkeypatch: pytest.MonkeyPatch, ours: logging.Handler) -> None:
    monkeypatch.setattr(logging.getLogger("definewtf"), "handlers", [logging.NullHandler()])


def _another_record_factory(monkeypatch: pytest.MonkeyPatch, ours: logging.Handler) -> None:
    factory = logging.getLogRecordFactory()
    monkeypatch.setattr(logging, "_logRecordFactory", lambda *a, **k: factory(*a, **k))


def _another_formatter(monkeypatch: pytest.MonkeyPatch, ours: logging.Handler) -> None:
    monkeypatch.setattr(ours, "formatter", logging.Formatter("%(message)s"))


@pytest.mark.parametrize(
    "detour", [_handler_on_the_parent, _another_record_factory, _another_formatter]
)
async def test_a_request_line_goes_through_logging_when_anything_else_is_on_the_way(
    client, request_log: RequestLog, monkeypatch: pytest.MonkeyPatch, detour
) -> None:
    """An operator's handler, a record factory adding trace ids, another format: each gets
    the request's record."""
    request_log.alone(monkeypatch)
    detour(monkeypatch, request_log.handler)
    await client.get("/healthz")
    assert len(request_log.records) == 1


async def test_a_log_that_cannot_be_written_does_not_fail_the_request(
    client, request_log: RequestLog, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A closed or full log stream is reported the way `logging` reports it; the IdP still
    gets its answer."""
    request_log.alone(monkeypatch)
    request_log.buffer.close()
    answered = await client.get("/healthz")
    assert answered.status_code == 200
    assert "Message: 'request'" in capsys.readouterr().err
