""" "Sign in with Zoho" (full page or the widget's popup), the plain login, and sign-out."""

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
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET

from core.api import ErrorSerializer, SessionAuthentication
from identity import zoho_sign_in
from identity.authentication import WidgetTokenAuthentication
from identity.backends import MEMBER_BACKEND
from identity.models import WidgetToken
from identity.tokens import widget_token_issue, widget_token_revoke
from identity.zoho_sign_in import SignInRefused
from studios.models import Membership

logger = structlog.get_logger(__name__)

SESSION_OUTCOME = "accounts_zoho_sign_in_outcome"
# The nonces of "Sign in with Zoho" starts in this browser (signed, HttpOnly; valid as long as a state).
NONCE_COOKIE = "leadline_zoho_sign_in"
NONCE_COOKIE_SALT = "identity.zoho_sign_in.nonces"
NONCE_COOKIE_MAX_AGE = zoho_sign_in.STATE_MAX_AGE
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
    context = {
        **outcome,
        "target_origin": settings.PUBLIC_BASE_URL,
        "start_url": "/auth/zoho/start" + ("?mode=widget" if outcome.get("mode") == "widget" else ""),
    }
    return _popup_response(render(request, "identity/sign_in_result.html", context, status=status_code))


def _refused_page(request: HttpRequest, exc: SignInRefused) -> HttpResponse:
    return _result_page(request, {"outcome": "refused", "reason": exc.reason, "message": exc.message}, status_code=400)


def _nonces_load(request: HttpRequest) -> dict[str, list[str]]:
    """The nonces of the sign-ins this browser started, from their signed cookie, in the shape the start and the
    state check read and write (a mapping like a session)."""
    value = request.get_signed_cookie(NONCE_COOKIE, default="", salt=NONCE_COOKIE_SALT, max_age=NONCE_COOKIE_MAX_AGE)
    return {zoho_sign_in.SESSION_NONCES: [nonce for nonce in value.split(",") if nonce]}


def _nonces_save(response: HttpResponse, nonces: dict[str, list[str]]) -> HttpResponse:
    path = reverse("signin:zoho-callback").rsplit("/", 1)[0] + "/"  # the start and the callback only
    values = nonces.get(zoho_sign_in.SESSION_NONCES) or []
    if not values:
        response.delete_cookie(NONCE_COOKIE, path=path, samesite="Lax")
        return response
    # Lax: Zoho sends the browser back with a top-level GET, which carries Lax cookies.
    response.set_signed_cookie(
        NONCE_COOKIE,
        ",".join(values),
        salt=NONCE_COOKIE_SALT,
        max_age=NONCE_COOKIE_MAX_AGE,
        path=path,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@require_GET
def zoho_start(request: HttpRequest) -> HttpResponse:
    """Off to Zoho's consent page. `?mode=widget` ends in a token posted to the widget, else a cookie session.

    Anyone may call this, so it writes no session: the nonce binding the `state` to this browser goes into a
    signed cookie. A session is made only once Zoho's callback comes back with a state this browser started."""
    mode = request.GET.get("mode") or "page"
    nonces = _nonces_load(request)
    try:
        url = zoho_sign_in.sign_in_start(session=nonces, mode=mode)
    except SignInRefused as exc:
        return _result_page(
            request, {"outcome": "refused", "reason": exc.reason, "message": exc.message}, status_code=400
        )
    return _nonces_save(_popup_response(redirect(url)), nonces)


@require_GET
@transaction.non_atomic_requests  # the code exchange and the identity calls go to Zoho: no transaction around them
def zoho_callback(request: HttpRequest) -> HttpResponse:
    nonces = _nonces_load(request)
    try:
        mode = zoho_sign_in.sign_in_state_check(state=request.GET.get("state", ""), session=nonces)
    except SignInRefused as exc:
        logger.warning("accounts.sign_in.bad_state")
        return _result_page(
            request, {"outcome": "refused", "reason": exc.reason, "message": exc.message}, status_code=400
        )
    return _nonces_save(_zoho_callback_answer(request, mode), nonces)  # the used nonce is gone from the cookie


def _zoho_callback_answer(request: HttpRequest, mode: str) -> HttpResponse:
    """The callback after its state checked out: identify the person with Zoho, match them, answer."""
    try:
        if request.GET.get("error"):
            raise SignInRefused(f"Zoho sign-in did not complete ({request.GET['error']}).", reason="zoho_refused")
        identity = zoho_sign_in.sign_in_identify(
            code=request.GET.get("code", ""), accounts_server=request.GET.get("accounts-server", "")
        )
        match = zoho_sign_in.sign_in_match(identity=identity)
    except SignInRefused as exc:
        logger.info("accounts.sign_in.refused", reason=exc.reason)
        request.session[SESSION_OUTCOME] = {"outcome": "refused", "mode": mode, "message": exc.message, **exc.extra}
        return _popup_response(redirect("signin:zoho-done"))
    person = {
        "mode": mode,
        "zoho_user_id": identity.user_id,
        "email": identity.email,
        "name": identity.name,
        "zoho_org_id": identity.org_id,
        "zoho_org_name": identity.org_name,
        "organization_name": match.organization.name,
    }
    if match.membership is None:
        logger.info("accounts.sign_in.unknown_user", organization_id=match.organization.pk)
        request.session[SESSION_OUTCOME] = {"outcome": "unknown_user", "inactive": match.inactive, **person}
        return _popup_response(redirect("signin:zoho-done"))
    logger.info("accounts.sign_in.ok", membership_id=match.membership.pk, mode=mode)
    if mode == "page":
        login(request, match.membership.user, backend=MEMBER_BACKEND)
        return redirect(settings.LOGIN_REDIRECT_URL)
    # The token is made on the next page, so it never sits in the session or in a URL.
    request.session[SESSION_OUTCOME] = {"outcome": "signed_in", "membership_id": match.membership.pk, **person}
    return _popup_response(redirect("signin:zoho-done"))


@require_GET
def zoho_done(request: HttpRequest) -> HttpResponse:
    """The sign-in's last page: hands the widget its token (static JS, postMessage to our own origin) or explains
    why not. Shown once per sign-in; a reload says to start again."""
    outcome = request.session.pop(SESSION_OUTCOME, None)
    if outcome is None:
        message = "This sign-in has already finished or expired; start again."
        return _result_page(request, {"outcome": "refused", "reason": "expired", "message": message}, status_code=400)
    if outcome["outcome"] == "signed_in":
        membership = (
            Membership.objects.unscoped()  # the id was put in this session by the callback, after Zoho's answer
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
    """The plain e-mail and password sign-in, for use outside Zoho."""

    template_name = "identity/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule): a link cannot sign anyone out."""

    next_page = reverse_lazy("accounts:login")
