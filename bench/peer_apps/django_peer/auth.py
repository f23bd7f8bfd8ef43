"""A static bearer token (django-scim2 leaves authentication to the project: it only checks
`request.user.is_authenticated`)."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

TOKEN = os.environ["BENCH_PEER_TOKEN"]


class ServiceAccount:
    is_authenticated = True


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        known = scheme.lower() == "bearer" and hmac.compare_digest(token, TOKEN)
        request.user = ServiceAccount() if known else AnonymousUser()
        return self.get_response(request)
