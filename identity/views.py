"""Sign-in through a CRM (full page or the widget's popup), the one OAuth callback of every CRM flow, the plain
login, and sign-out.

    /auth/crm/<kind>/start   off to the CRM's consent page (`?mode=widget`: the widget's popup)
    /crm/oauth/callback      where every CRM OAuth flow comes back: the signed state says connect or sign-in
    /auth/crm/<kind>/done    the sign-in's last page (a token for the widget, or why not)

The first sign-in URLs (/auth/<kind>/start, callback, done) answer as before (auth_urls.py): installed widgets open
the start, and the callback is a redirect URI registered at a CRM's API console.
"""

from __future__ import annotations

from typing import Any

import structlog
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import resolve, reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET

from core.api import ErrorSerializer, SessionAuthentication
from crm.errors import CrmAuthError, CrmError
from crm.oauth_state import STATE_MAX_AGE, Flow, state_read
from crm.provider import CrmProvider
from identity.authentication import WidgetTokenAuthentication
from identity.backends import MEMBER_BACKEND
from identity.models import WidgetToken
from identity.sign_in import sign_in_match, sign_in_provider, sign_in_providers
from identity.tokens import widget_token_issue, widget_token_revoke
from studios.models import Membership

logger = structlog.get_logger(__name__)

SESSION_OUTCOME = "identity_sign_in_outcome"
# The nonces of sign-ins started in this browser (signed, HttpOnly; valid as long as a state). Path "/": the start
# (/auth/...) and the callback (/crm/oauth/callback, or an old one under /auth/) must both receive it.
NONCE_COOKIE = "leadline_sign_in"
NONCE_COOKIE_SALT = "identity.sign_in.nonces"
NONCE_COOKIE_MAX_AGE = STATE_MAX_AGE
NONCE_KEYS = "crm_oauth_nonces"  # crm.oauth_state.SESSION_NONCES: the mapping the providers read and write
# The popup keeps its opener only if none of its pages isolates itself (COOP); scripts only from our static files.
POPUP_HEADERS = {
    "Cross-Origin-Opener-Policy": "unsafe-none",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}


def _popup_response(response: HttpResponse) -> HttpResponse:
    for header, value in POPUP_HEADERS.items():
        response[header] = value
    add_never_cache_headers(response)  # the page may hold a token
    return response


def _result_page(request: HttpRequest, outcome: dict[str, Any], *, status_code: int) -> HttpResponse:
    kind = outcome.get("kind") or ""
    # A state we could not read names no CRM: "Try again" offers the first that signs people in.
    provider = sign_in_provider(kind) if kind else next(iter(sign_in_providers()), None)
    start_url = reverse("signin:crm-start", args=[provider.kind]) if provider else ""
    context = {
        **outcome,
        "crm_label": provider.label if provider else "your CRM",
        "target_origin": settings.PUBLIC_BASE_URL,
        "start_url": start_url + ("?mode=widget" if start_url and outcome.get("mode") == "widget" else ""),
    }
    return _popup_response(render(request, "identity/sign_in_result.html", context, status=status_code))


def _refused_page(request: HttpRequest, exc: CrmError, **outcome: Any) -> HttpResponse:
    refused = {"outcome": "refused", "reason": exc.code or "crm_refused", "message": exc.message, **outcome}
    return _result_page(request, refused, status_code=400)


def _nonces_load(request: HttpRequest) -> dict[str, list[str]]:
    """The nonces of the sign-ins this browser started, from their signed cookie, in the shape the providers'
    sign-in start and finish read and write (a mapping like a session)."""
    value = request.get_signed_cookie(NONCE_COOKIE, default="", salt=NONCE_COOKIE_SALT, max_age=NONCE_COOKIE_MAX_AGE)
    return {NONCE_KEYS: [nonce for nonce in value.split(",") if nonce]}


def _nonces_save(response: HttpResponse, nonces: dict[str, list[str]]) -> HttpResponse:
    values = nonces.get(NONCE_KEYS) or []
    if not values:
        response.delete_cookie(NONCE_COOKIE, path="/", samesite="Lax")
        return response
    # Lax: the CRM sends the browser back with a top-level GET, which carries Lax cookies.
    response.set_signed_cookie(
        NONCE_COOKIE,
        ",".join(values),
        salt=NONCE_COOKIE_SALT,
        max_age=NONCE_COOKIE_MAX_AGE,
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def _provider_or_404(kind: str) -> type[CrmProvider]:
    provider = sign_in_provider(kind)
    if provider is None:
        raise Http404("No CRM of that kind signs people in")
    return provider


@require_GET
def crm_sign_in_start(request: HttpRequest, kind: str) -> HttpResponse:
    """Off to the CRM's consent page. `?mode=widget` ends in a token posted to the widget, else a cookie session.

    Anyone may call this, so it writes no session: the nonce binding the `state` to this browser goes into a
    signed cookie. A session is made only once the callback comes back with a state this browser started."""
    provider = _provider_or_404(kind)
    mode = request.GET.get("mode") or "page"
    nonces = _nonces_load(request)
    try:
        url = provider.sign_in_url(session=nonces, mode=mode)
    except CrmError as exc:
        return _refused_page(request, exc, kind=kind, mode=mode)
    return _nonces_save(_popup_response(redirect(url)), nonces)


@require_GET
@transaction.non_atomic_requests  # the code exchange and the identity calls go to the CRM: no transaction
def crm_oauth_callback(request: HttpRequest, kind: str = "") -> HttpResponse:
    """Every CRM OAuth flow comes back here (`kind` of a first-generation URL is not needed: the signed state says
    which CRM). A sign-in is finished below; a connect by the view its provider named
    in the state (its own pages: who may connect, where to go after), which checks the state again."""
    try:
        issued = state_read(state=request.GET.get("state", ""))
    except CrmAuthError as exc:
        logger.warning("identity.oauth_callback.bad_state")
        return _refused_page(request, exc)
    if issued.flow == Flow.CONNECT and issued.finish:
        return resolve(reverse(issued.finish)).func(request)
    provider = sign_in_provider(issued.kind)
    if issued.flow != Flow.SIGN_IN or provider is None:
        return _refused_page(request, CrmAuthError("This sign-in link is not ours; start again.", code="bad_state"))
    nonces = _nonces_load(request)
    try:
        signed_in = provider.sign_in_finish(params=request.GET, session=nonces)
    except CrmAuthError as exc:
        if exc.code != "bad_state":
            return _nonces_save(_sign_in_refused(request, exc, kind=issued.kind, mode=issued.data.get("mode")), nonces)
        logger.warning("identity.sign_in.bad_state", kind=issued.kind)
        return _refused_page(request, exc, kind=issued.kind, mode=issued.data.get("mode"))
    except CrmError as exc:  # the CRM did not answer
        return _nonces_save(_sign_in_refused(request, exc, kind=issued.kind, mode=issued.data.get("mode")), nonces)
    # The used nonce is gone from the cookie.
    return _nonces_save(_sign_in_answer(request, provider, signed_in.identity, signed_in.mode), nonces)


def _done(kind: str) -> HttpResponse:
    return _popup_response(redirect("signin:crm-done", kind=kind))


def _sign_in_refused(request: HttpRequest, exc: CrmError, *, kind: str, mode: Any) -> HttpResponse:
    logger.info("identity.sign_in.refused", kind=kind, reason=exc.code)
    request.session[SESSION_OUTCOME] = {
        "outcome": "refused",
        "kind": kind,
        "mode": mode if mode in ("page", "widget") else "page",
        "reason": exc.code or "crm_refused",
        "message": exc.message,
        **{key: str(value) for key, value in exc.details.items()},
    }
    return _done(kind)


def _sign_in_answer(request: HttpRequest, provider: type[CrmProvider], identity: Any, mode: str) -> HttpResponse:
    """The callback once the CRM said who this is: match them to a member, answer."""
    try:
        match = sign_in_match(provider=provider, identity=identity)
    except CrmAuthError as exc:
        return _sign_in_refused(request, exc, kind=provider.kind, mode=mode)
    person = {
        "kind": provider.kind,
        "mode": mode,
        "crm_user_id": identity.user_id,
        "email": identity.user_email,
        "name": identity.user_name,
        "crm_org_id": identity.org_id,
        "crm_org_name": identity.org_name,
        "organization_name": match.organization.name,
    }
    if match.membership is None:
        logger.info("identity.sign_in.unknown_user", kind=provider.kind, organization_id=match.organization.pk)
        request.session[SESSION_OUTCOME] = {"outcome": "unknown_user", "inactive": match.inactive, **person}
        return _done(provider.kind)
    logger.info("identity.sign_in.ok", kind=provider.kind, membership_id=match.membership.pk, mode=mode)
    if mode == "page":
        login(request, match.membership.user, backend=MEMBER_BACKEND)
        return redirect(settings.LOGIN_REDIRECT_URL)
    # The token is made on the next page, so it never sits in the session or in a URL.
    request.session[SESSION_OUTCOME] = {"outcome": "signed_in", "membership_id": match.membership.pk, **person}
    return _done(provider.kind)


@require_GET
def crm_sign_in_done(request: HttpRequest, kind: str) -> HttpResponse:
    """The sign-in's last page: hands the widget its token (static JS, postMessage to our own origin) or explains
    why not. Shown once per sign-in; a reload says to start again."""
    outcome = request.session.pop(SESSION_OUTCOME, None)
    if outcome is None:
        message = "This sign-in has already finished or expired; start again."
        expired = {"outcome": "refused", "kind": kind, "reason": "expired", "message": message}
        return _result_page(request, expired, status_code=400)
    if outcome["outcome"] == "signed_in":
        membership = (
            Membership.objects.unscoped()  # the id was put in this session by the callback, after the CRM's answer
            .select_related("organization", "user")
            .filter(pk=outcome["membership_id"], is_active=True, user__is_active=True, organization__is_active=True)
            .first()
        )
        if membership is None:
            outcome = {**outcome, "outcome": "unknown_user", "inactive": True}
        else:
            token, row = widget_token_issue(membership=membership)
            outcome = {**outcome, "token": token, "expires_at": row.expires_at.isoformat()}
            return _result_page(request, outcome, status_code=200)
    return _result_page(request, outcome, status_code=403)


class SignOutApi(APIView):
    """POST /auth/sign-out: revokes the presented widget token, or ends the cookie session (CSRF applies)."""

    authentication_classes = [WidgetTokenAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None, 401: ErrorSerializer, 403: ErrorSerializer}, summary="Sign out")
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, WidgetToken):
            widget_token_revoke(token=request.auth)
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LoginView(auth_views.LoginView):
    """The plain e-mail and password sign-in, for use outside a CRM, with a button per CRM that signs people in."""

    template_name = "identity/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        crms = [
            {"kind": provider.kind, "label": provider.sign_in_label or provider.label}
            for provider in sign_in_providers()
        ]
        return {**super().get_context_data(**kwargs), "sign_in_crms": crms}


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule): a link cannot sign anyone out."""

    next_page = reverse_lazy("accounts:login")
