"""Request middleware: the request log line's client address, the request id echoed back, and the idle timeout of
sessions that can reach the admin."""

from __future__ import annotations

import time

import structlog
from django_structlog.middlewares import RequestMiddleware

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from core.client_address import client_address

# The session key holding the time (epoch seconds) of the session's last request.
SESSION_LAST_SEEN = "leadline_last_seen"
# A session's last-seen time is written at most this often: a write per request would turn every read into one.
LAST_SEEN_RESOLUTION_SECONDS = 60


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's request logging, with the client address from `core.client_address` (trusted proxies
    only) rather than whatever `X-Forwarded-For` a client sends."""

    @classmethod
    def bind_ip(cls, request: HttpRequest) -> None:
        structlog.contextvars.bind_contextvars(ip=client_address(request))


class RequestIdHeaderMiddleware:
    """Echo the request id to the client, so a user's bug report can be matched to our log lines."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        response = self.get_response(request)
        if request_id:
            response["X-Request-ID"] = request_id
        return response


def can_use_admin(request: HttpRequest) -> bool:
    """Operators and managers: the people whose session opens the admin."""
    from core.admin_site import request_manager

    user = request.user
    return bool(user.is_staff or user.is_superuser or request_manager(request) is not None)


class SessionIdleTimeoutMiddleware:
    """Signs out a cookie session that can reach the admin after SESSION_IDLE_TIMEOUT seconds without a request.

    Widget tokens are not sessions and keep their own rule (a fixed lifetime, ACCOUNTS_WIDGET_TOKEN_SECONDS); other
    members' sessions keep Django's SESSION_COOKIE_AGE. After AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timeout = settings.SESSION_IDLE_TIMEOUT
        user = getattr(request, "user", None)
        if timeout and user is not None and user.is_authenticated and can_use_admin(request):
            now = int(time.time())
            last_seen = request.session.get(SESSION_LAST_SEEN)
            if isinstance(last_seen, int) and now - last_seen > timeout:
                structlog.get_logger(__name__).info("accounts.session.idle_timeout", idle_seconds=now - last_seen)
                logout(request)  # the request goes on signed out: the admin sends them to its login page
                if hasattr(request, "_leadline_membership"):
                    del request._leadline_membership  # looked up for the signed-in user just now
            elif not isinstance(last_seen, int) or now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS:
                request.session[SESSION_LAST_SEEN] = now
        return self.get_response(request)
