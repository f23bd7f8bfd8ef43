"""The peers' applications, run by `bench.peers` inside the peers' own virtualenvs (never
imported by the benchmark itself): `scim2_server_app` (scim2-server's ASGI application) and
`django_peer` (a minimal Django project around django-scim2)."""
