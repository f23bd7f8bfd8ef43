"""The benchmark harness: an identity provider's traffic against a real `definewtf serve`, its
ceiling, and its peers, in one run (issue 6).

    .venv/bin/python -m bench [--users N] [--engine postgresql|sqlite|both|none]
                              [--peers all|none|scim2-server,django-scim2] [--phases …] [--quick]

Each run starts the server itself (PostgreSQL: 2 workers on a database created for the run
and dropped after it; SQLite: 1 worker on a fresh temporary file), creates tenant `bench`, a
SCIM token and an admin API key through the CLI, and drives it over HTTP on 127.0.0.1 with
an aiohttp client (keep-alive, `Host: bench.localhost:<port>`). Then the same phases run
against each peer (`bench.peers`). Every loop is bounded in count and in time. Each run is
stored as JSON in `bench/results/` and `bench/RESULTS.md` is rendered from all of them.

Modules: `server` (database, server process, CLI), `memory` (the server processes' peak
RSS, sampled every second while it runs), `cpu` (the CPU each server, PostgreSQL and the load
generator spend per request in the rivals phase), `load` (client, bounded concurrent loops), `stats`
(latencies and their summaries), `phases` (the shared state, sync, lookup),
`auth`, `writes` (update, deprovision), `listing`, `groups`, `graphql`, `pgstats`
(PostgreSQL's counters around a loop), `ceiling` + `ceiling_app` (bare Litestar and one
asyncpg query), `rivals` (ours and the peers in turns), `peers` + `peer_apps` (scim2-server,
django-scim2, in throwaway virtualenvs under ~/.cache/definewtf-bench), `report` and
`summary` (machine facts, tables, RESULTS.md).

Phases, in run order:

- setup: server start, CLI commands, first request (argon2 at the default cost), warm-up;
- sync: Entra's create flow, `GET /Users?filter=userName eq` (empty) then POST;
- lookup: `userName eq`, `externalId eq`, `GET /Users/{id}`;
- auth: a known token vs no auth on the same server, credential writes per request;
- update: PATCH replace `name.givenName` + `title`; full PUT;
- list: a paged walk with count=100, first vs 90% page, `co` / `sw` filters;
- groups: one member added/removed in a group of 10 vs of 50,000;
- deprovision: PATCH `active: false` for 10% of users;
- graphql: `users(first: 100) { roles groups }` pages walked with `after`;
- ceiling: bare Litestar and one indexed asyncpg query under the same uvicorn settings;
- rivals: the run's peers started beside ours, seeded alike, every key operation sent to each
  server in turns (the ratios to the best peer), with the CPU each request cost each server,
  PostgreSQL and the load generator, and the cores each kept busy.

Type-check with `.venv/bin/mypy bench --exclude bench/peer_apps` (the peer apps import
libraries that only their own virtualenvs have).
"""
