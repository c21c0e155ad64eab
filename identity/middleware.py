"""Sessions signed in before sign-in moved from `accounts/` to `identity/` name the old backend path, which Django
no longer finds (it signs such a session out). For one release they are pointed at the new path instead, so the
move signs nobody out; then this middleware and its MIDDLEWARE line go (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import BACKEND_SESSION_KEY
from django.http import HttpRequest, HttpResponse

MOVED_BACKENDS = {"accounts.backends.MemberBackend": "identity.backends.MemberBackend"}


class MovedBackendSessionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        # Only a browser that sent a session cookie has a session to load; everyone else costs nothing here.
        if session is not None and session.session_key:
            moved = MOVED_BACKENDS.get(session.get(BACKEND_SESSION_KEY, ""))
            if moved:
                session[BACKEND_SESSION_KEY] = moved
        return self.get_response(request)
