"""Request middleware: the request log line's client address, the request id echoed back, the idle timeout of
sessions that can reach the admin, and the lean path that spares webhooks the browser's middleware."""

from __future__ import annotations

import time
import uuid

import structlog
from django_structlog.app_settings import app_settings as structlog_settings
from django_structlog.middlewares import RequestMiddleware

from django.conf import settings
from django.contrib.auth import logout
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, ResolverMatch, get_resolver
from django.utils.module_loading import import_string

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


class WebhookRequestLogMiddleware(RequestLogMiddleware):
    """The request log of a webhook: its one line (`request_finished`: request id, client address, method, path
    with secrets redacted, status) at the end, without the `request_started` line before the view. A webhook is
    one short POST from a machine, and each JSON log line costs about a tenth of the whole request's CPU."""

    def prepare(self, request: HttpRequest) -> None:
        upstream = request.headers.get("x-request-id") if structlog_settings.TRUST_UPSTREAM_REQUEST_ID else None
        structlog.contextvars.bind_contextvars(request_id=upstream or str(uuid.uuid4()))
        if structlog_settings.IP_LOGGING_ENABLED:
            self.bind_ip(request)


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


# Every webhook's URL starts here; only these paths are looked at for the lean path (one string test for the rest).
WEBHOOK_PATH_PREFIX = "/webhooks/"


class WebhookPathMiddleware:
    """Webhook views (`core.webhooks.webhook_view`) skip the middleware that serves people in browsers.

    A webhook is a signed machine-to-machine POST: it has no cookie session, no signed-in user, no flash messages
    and no CSRF token, and its view reads none of them; loading them cost a third of its throughput. So a request
    under WEBHOOK_PATH_PREFIX whose view is a webhook view runs through WEBHOOK_MIDDLEWARE only (one request log
    line with its redaction, the request id, Content-Length, X-Frame-Options); the middleware before this one
    (SecurityMiddleware's headers and HTTPS redirect, WhiteNoise) runs for it as for every request. Any other path
    under the prefix (a 404 included) goes the usual way.

    WEBHOOK_MIDDLEWARE may hold only middleware without view, exception or template-response hooks: the view
    runs outside the full handler, which calls those. Exceptions become responses here as they do there."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.lean = _LeanHandler(settings.WEBHOOK_MIDDLEWARE)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(WEBHOOK_PATH_PREFIX):
            match = _webhook_match(request)
            if match is not None:
                request.resolver_match = match  # resolved once: the lean handler reuses it
                return self.lean.chain(request)
        return self.get_response(request)


def _webhook_match(request: HttpRequest) -> ResolverMatch | None:
    try:
        match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
    except Resolver404:
        return None
    return match if getattr(match.func, "webhook_view", False) else None


class _LeanHandler(BaseHandler):
    """Django's own view call (`_get_response`: the view, ATOMIC_REQUESTS honoured, a view returning None refused)
    inside a short middleware chain of its own, each layer turning exceptions into responses as Django's does."""

    def __init__(self, middleware_paths: list[str]):
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        chain = convert_exception_to_response(self._get_response)
        for path in reversed(middleware_paths):
            middleware = import_string(path)(chain)
            hooks = [
                h for h in ("process_view", "process_exception", "process_template_response") if hasattr(middleware, h)
            ]
            if hooks:
                raise ValueError(f"{path} has {', '.join(hooks)}, which the webhook path would never call")
            chain = convert_exception_to_response(middleware)
        self.chain = chain

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        return request.resolver_match
