"""The benchmark harness: an identity provider's traffic against a real `definewtf serve`.

    .venv/bin/python -m bench [--users N] [--engine postgresql|sqlite|both] [--phases …]

Each run starts the server itself (PostgreSQL: 2 workers on a database created for the run
and dropped after it; SQLite: 1 worker on a fresh temporary file), creates tenant `bench` and
a SCIM token through the CLI, and drives it over HTTP on 127.0.0.1 with `httpx.AsyncClient`
(keep-alive, `Host: bench.localhost:<port>`). Every loop is bounded in count and in time.
Each run is stored as JSON in `bench/results/` and `bench/RESULTS.md` is rendered from all of
them.

Modules: `server` (database, server process, CLI), `load` (client, bounded concurrent
loops), `stats` (latencies and their summaries), `phases` (what an IdP sends), `report`
(machine facts, tables, RESULTS.md).

Phases, in the order an IdP-shaped run goes through them:

- setup: server start, `definewtf tenant create`, `definewtf token generate`, first request
  (argon2 at the default cost), warm-up — implemented;
- sync: Entra's create flow, `GET /Users?filter=userName eq` (empty) then POST — implemented;
- lookup: `userName eq`, `externalId eq`, `GET /Users/{id}` — implemented;
- groups: one member added/removed in a group of 10 vs of 50,000 — implemented;
- update, list, deprovision, graphql — not yet (see README "Benchmark").
"""
