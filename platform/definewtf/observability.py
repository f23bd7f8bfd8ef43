"""What the engineer on call sees: one JSON log line per request, Prometheus metrics, and the
SCIM activity behind `scimStatus`, all fed by the same observation of each request.

`observe()` wraps the whole ASGI app (not a Litestar middleware, which runs only for matched
routes), so unknown paths and rejected hosts are logged and counted too.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from definewtf import request_context
from definewtf.services.scim_activity import ActivityLog

log = logging.getLogger("definewtf.request")

#: A client's own `X-Request-ID` is kept when it looks like an id (never reflected otherwise).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SCIM_PREFIX = "/api/scim"
#: Latency buckets in seconds: IdPs time out between 10 s (Entra) and 60 s; Okta expects
#: `GET /Groups` within 0.6 s.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.6, 1.0, 2.5, 5.0, 10.0)


# -- logging --------------------------------------------------------------------------------


def _install_record_factory() -> None:
    """Every log record carries the request id and tenant of the request it was made in."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "definewtf", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        info = request_context.current()
        record.request_id = "" if info is None else info.id
        record.tenant = None if info is None else info.tenant_slug
        return record

    factory.definewtf = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _line(
    created: float,
    level: str,
    logger: str,
    message: str,
    request_id: str,
    tenant: str | None,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """A JSON log line's fields, in the order they are written."""
    line: dict[str, Any] = {
        "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level.lower(),
        "logger": logger,
        "msg": message,
    }
    if request_id:
        line["request_id"] = request_id
    if tenant:
        line["tenant"] = tenant
    line.update(fields)
    return line


def _encode(line: dict[str, Any]) -> str:
    # msgspec: an eighth of json.dumps' time for the line every request writes (0.46 us).
    return msgspec.json.encode(line, enc_hook=str).decode()


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a request line's fields come in `extra={"fields": …}`."""

    def format(self, record: logging.LogRecord) -> str:
        line = _line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "request_id", ""),
            getattr(record, "tenant", None),
            getattr(record, "fields", {}),
        )
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return _encode(line)


def configure_logging(log_format: str) -> None:
    """JSON lines (or plain text) on stderr for every logger that propagates to the root:
    ours, the libraries' warnings (asyncpg's pool, Piccolo). Idempotent; uvicorn's own
    loggers keep their handlers."""
    _install_record_factory()
    # The Logging HOWTO's "Optimization": no formatter of ours shows the caller's file and
    # line, the thread or the process, and a request's line paid for finding all three.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    if any(getattr(h, "definewtf", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.definewtf = True  # type: ignore[attr-defined]
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


# -- metrics --------------------------------------------------------------------------------


class Metrics:
    """Request counts and latency histograms per route and tenant.

    Under several uvicorn workers, set `PROMETHEUS_MULTIPROC_DIR` (`definewtf serve` does) and
    every worker's numbers are summed in each scrape; otherwise they are this process's.
    """

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # A registry per app: tests build many apps in one process.
        self.registry = CollectorRegistry()
        registry = None if self.multiprocess else self.registry
        self.requests = Counter(
            "definewtf_requests",
            "HTTP requests answered",
            ("route", "method", "status", "tenant"),
            registry=registry,
        )
        self.latency = Histogram(
            "definewtf_request_duration_seconds",
            "Time to answer an HTTP request",
            ("route", "method", "tenant"),
            buckets=_BUCKETS,
            registry=registry,
        )

        #: Each (route, method, status, tenant)'s counter and histogram: `labels()` checks
        #: and converts its values and takes a lock on every call, for the same few children.
        self._children: dict[tuple[str, str, int, str], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, tenant: str, seconds: float) -> None:
        key = (route, method, status, tenant)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, method, str(status), tenant),
                self.latency.labels(route, method, tenant),
            )
            self._children[key] = children
        requests, latency = children
        requests.inc()
        latency.observe(seconds)

    def exposition(self) -> bytes:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


# -- the request observer -------------------------------------------------------------------


def observe(app: ASGIApp, *, metrics: Metrics, activity: ActivityLog) -> ASGIApp:
    """Give every request an id (returned as `X-Request-ID`), then log it, count it, and
    record SCIM requests for the tenant's provisioning status."""

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # 32 random hex digits, as `uuid4().hex` gave them at a quarter of its cost (2.3 us a
        # request): nothing reads an id as a UUID.
        info = request_context.begin(given if _REQUEST_ID.match(given) else secrets.token_hex(16))
        status = 500  # what the server answers if the app fails before responding

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = info.id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or "(unmatched)"
            _finish(scope, info, route, status, seconds, metrics, activity)

    return observed


def _finish(
    scope: HTTPScope,
    info: request_context.RequestInfo,
    route: str,
    status: int,
    seconds: float,
    metrics: Metrics,
    activity: ActivityLog,
) -> None:
    method = scope["method"]
    tenant = info.tenant_slug or "-"
    metrics.observe(route, method, status, tenant, seconds)
    if info.tenant_id is not None and scope["path"].startswith(_SCIM_PREFIX):
        error = None if status < 400 else f"{status} {method} {route}: {info.error or ''}"
        activity.record(info.tenant_id, ok=status < 400, error=error and error.rstrip(": "))
    client = scope.get("client")
    # 503 is the database being away (an outage, already logged once), not a bug.
    level = logging.WARNING if status == 503 else logging.ERROR if status >= 500 else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields = {
        "method": method,
        "route": route,
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "credential": info.credential,
        "client": client[0] if client else None,
    }
    _log_request(level, info, fields)


def _log_request(level: int, info: request_context.RequestInfo, fields: dict[str, Any]) -> None:
    """The request's line: straight to the stream where `_sole_json_handler` allows it."""
    handler = _sole_json_handler(level)
    if handler is None:
        log.log(level, "request", extra={"fields": fields})
        return
    line = _line(
        time.time(),
        logging.getLevelName(level),
        log.name,
        "request",
        info.id,
        info.tenant_slug,
        fields,
    )
    text = _encode(line) + handler.terminator
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.stream.flush()
    except Exception:  # as StreamHandler.emit does: a failing stream never fails a request
        handler.handleError(log.makeRecord(log.name, level, "", 0, "request", (), None))
    finally:
        handler.release()


def _sole_json_handler(level: int) -> logging.StreamHandler[Any] | None:
    """The handler of `configure_logging` if a request line at `level` would reach it and
    nothing else: the line is then written to its stream directly, as `JsonFormatter` writes
    it. Through `logging`, the request's line was the largest part of a lookup's CPU that
    was not answering it (8% of an in-process `userName eq` lookup's samples, py-spy): a
    LogRecord, the record factory, the formatter, the handler's machinery. `_finish` in a
    loop: 12.5-17.9 us through `logging`, 7.8-11.1 us direct; in-process requests to
    `/ServiceProviderConfig`, alternated: 202-205 us of CPU each, 183-189 direct.

    `definewtf serve` logs this way. A handler or a filter added on the way (pytest's, an
    operator's), another record factory (one adding trace ids) or another formatter, and
    the line goes through `logging` again (tests/test_observability.py)."""
    if log.filters or not getattr(logging.getLogRecordFactory(), "definewtf", False):
        return None
    found: logging.StreamHandler[Any] | None = None
    current: logging.Logger | None = log
    while current is not None:
        for handler in current.handlers:
            if (
                found is not None
                or not getattr(handler, "definewtf", False)
                or not isinstance(handler, logging.StreamHandler)
                or type(handler.formatter) is not JsonFormatter
                or handler.filters
                or level < handler.level
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found
