"""Production-like settings: DEBUG off, persistent database connections (CONN_MAX_AGE), no
sessions, no access log."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

_DATABASE = urlsplit(os.environ["DATABASE_URL"])

# A throwaway project on loopback; nothing is signed with it.
SECRET_KEY = "bench-peer-not-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_scim",
    "django_peer",
]
MIDDLEWARE = ["django_peer.auth.BearerTokenMiddleware"]
ROOT_URLCONF = "django_peer.urls"
AUTH_USER_MODEL = "django_peer.User"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _DATABASE.path.lstrip("/"),
        "USER": _DATABASE.username or "",
        "PASSWORD": _DATABASE.password or "",
        "HOST": _DATABASE.hostname or "",
        "PORT": _DATABASE.port or 5432,
        "CONN_MAX_AGE": None,
    }
}
SCIM_SERVICE_PROVIDER = {
    "NETLOC": "localhost",
    "AUTHENTICATION_SCHEMES": [
        {"type": "oauthbearertoken", "name": "Bearer token", "description": "static token"}
    ],
    "USER_ADAPTER": "django_peer.adapters.SCIMUser",
    "GROUP_MODEL": "django_peer.models.Group",
    "USER_FILTER_PARSER": "django_peer.filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "django_peer.filters.GroupFilterQuery",
}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
