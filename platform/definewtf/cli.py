"""The `definewtf` command. Its output is a contract: commands that issue a secret print it
alone on stdout (one line), everything else goes to stderr, and failures exit non-zero.

    definewtf migrate
    definewtf tenant create SLUG [--name NAME]
    definewtf token generate SLUG
    definewtf admin create EMAIL [--tenant SLUG]
    definewtf serve [--host H] [--port P] [--workers N]
    definewtf demo

Configuration comes from the environment (`DATABASE_URL`, `DEFINEWTF_BASE_DOMAIN`), read when
the command starts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from definewtf import supervisor
from definewtf.db import Database
from definewtf.errors import DomainError, Invalid, NotFound
from definewtf.migrate import migrate
from definewtf.observability import configure_logging
from definewtf.principals import CLI_ACTOR
from definewtf.security import Security
from definewtf.services import api_keys, tenants, tokens
from definewtf.settings import Settings

T = TypeVar("T")
DEMO_SLUG = "demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="definewtf", description="define.wtf identity platform")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    create = tenant.add_parser("create", help="create a tenant")
    create.add_argument("slug", help="a DNS label: the tenant is reached at SLUG.BASE_DOMAIN")
    create.add_argument("--name", help="display name (default: the slug)")

    token = commands.add_parser("token", help="manage SCIM tokens").add_subparsers(
        dest="action", required=True
    )
    generate = token.add_parser("generate", help="print a new SCIM token; revokes the previous one")
    generate.add_argument("slug")

    admin = commands.add_parser("admin", help="manage admins").add_subparsers(
        dest="action", required=True
    )
    admin_create = admin.add_parser("create", help="create an admin and print a new API key")
    admin_create.add_argument("email")
    admin_create.add_argument("--tenant", help="tenant slug (default: a platform operator)")

    serve = commands.add_parser("serve", help="run the HTTP server")
    _serve_options(serve)
    commands.add_parser(
        "demo", help="migrate, create tenant 'demo', print its SCIM URL and token, serve on :8000"
    )
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)


async def _with_database(settings: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    database = Database(settings.database_url)
    await database.start()
    try:
        return await action(database)
    finally:
        await database.stop()


def _print_secret(secret: str) -> None:
    sys.stdout.write(secret + "\n")
    sys.stdout.flush()


def _info(message: str) -> None:
    print(message, file=sys.stderr)


async def _migrate(database: Database) -> None:
    await migrate(database)


async def _demo_setup(settings: Settings) -> tuple[str, str]:
    async def setup(database: Database) -> tuple[str, str]:
        await migrate(database)
        tenant = await tenants.find_tenant_by_slug(DEMO_SLUG)
        if tenant is None:
            tenant = await tenants.create_tenant(slug=DEMO_SLUG, name="Demo", actor=CLI_ACTOR)
        issued = await tokens.generate_scim_token(
            tenant_id=tenant.id, actor=CLI_ACTOR, security=Security(settings)
        )
        return f"http://{DEMO_SLUG}.{settings.base_domain}:8000/api/scim", issued.token

    return await _with_database(settings, setup)


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    if workers < 1:
        raise Invalid("--workers must be at least 1")
    if workers > 1 and settings.database_url.startswith("sqlite"):
        # SQLite serialises writers with an in-process lock (definewtf.db): one process only.
        raise Invalid("SQLite supports one worker; use PostgreSQL (DATABASE_URL) for --workers > 1")
    asyncio.run(_with_database(settings, _migrate))
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Each worker writes its metrics there and /metrics sums them all, whichever worker
        # the scrape reaches (definewtf.observability.Metrics).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="definewtf-metrics-")
    configure_logging(settings.log_format)
    sys.exit(supervisor.run("definewtf.app:create_served_app", host, port, workers))


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    command = args.command
    if command == "migrate":
        asyncio.run(_with_database(settings, _migrate))
        _info("migrations applied")
    elif command == "tenant":

        async def create_tenant(_: Database) -> tenants.TenantRecord:
            return await tenants.create_tenant(slug=args.slug, name=args.name, actor=CLI_ACTOR)

        record = asyncio.run(_with_database(settings, create_tenant))
        _info(
            f"tenant {record.slug} created: SCIM endpoint https://{record.slug}.{settings.base_domain}/api/scim"
        )
    elif command == "token":

        async def generate(_: Database) -> str:
            tenant = await tenants.get_tenant_by_slug(slug=args.slug)
            issued = await tokens.generate_scim_token(
                tenant_id=tenant.id, actor=CLI_ACTOR, security=Security(settings)
            )
            return issued.token

        _print_secret(asyncio.run(_with_database(settings, generate)))
    elif command == "admin":

        async def create_admin(_: Database) -> str:
            issued = await api_keys.create_admin(
                email=args.email,
                tenant_slug=args.tenant,
                actor=CLI_ACTOR,
                security=Security(settings),
            )
            return issued.key

        _print_secret(asyncio.run(_with_database(settings, create_admin)))
    elif command == "serve":
        _serve(settings, args.host, args.port, args.workers)
    elif command == "demo":
        url, token = asyncio.run(_demo_setup(settings))
        print(f"SCIM endpoint: {url}\nSCIM token:    {token}", flush=True)
        _serve(settings, "127.0.0.1", 8000, 1)
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(argv)
    except NotFound as exc:
        print(f"definewtf: error: {exc.detail}", file=sys.stderr)
        code = 1
    except DomainError as exc:
        print(f"definewtf: error: {exc.detail}", file=sys.stderr)
        code = 2 if isinstance(exc, Invalid) else 1
    except (OSError, ValueError, sqlite3.Error, asyncpg.PostgresError) as exc:
        # Configuration and database failures (unreachable server, missing database, schema
        # not migrated): one line, no traceback, and the hint operators need most.
        print(f"definewtf: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if "no such table" in str(exc) or "does not exist" in str(exc):
            print("definewtf: hint: run `definewtf migrate` first", file=sys.stderr)
        code = 1
    sys.exit(code)
