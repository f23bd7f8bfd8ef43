"""The smallest Django project serving django-scim2's /scim/v2/Users and /Groups: a user model
and a group model with django-scim2's SCIM mixins, its adapters (plus `title`, and
`externalId` / `displayName` in filters), and a static bearer token.

`bench.peers` copies this package into a temporary directory, runs `makemigrations` and
`migrate` there (the migrations are generated, never committed) and serves it with gunicorn.
Environment: `DATABASE_URL` (PostgreSQL) and `BENCH_PEER_TOKEN`.
"""
