"""`Authorization: Bearer <token>` for the widget API: the widget in a CRM's iframe gets no cookies of ours.

A bearer request carries no cookie, so it needs (and gets) no CSRF check: another site cannot make a browser
add this header. Cookie sessions keep DRF's CSRF enforcement (core.api.SessionAuthentication).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from identity.models import WidgetToken
from identity.throttle import WIDGET_TOKEN, SignInAttempt, SignInThrottled, sign_in_check, sign_in_failed
from identity.tokens import widget_token_resolve


class WidgetTokenAuthentication(authentication.BaseAuthentication):
    """A widget token from a sign-in through a CRM (identity.tokens); a wrong, expired or revoked one is a 401."""

    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[Any, WidgetToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None  # not ours: another authentication class may know the request
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        # Tokens are counted per client address (they name no account): a locked address is refused before the
        # token is looked up. A token is 256 random bits, so this stops floods of guesses, not lucky ones.
        attempt = SignInAttempt.for_request(kind=WIDGET_TOKEN, request=request._request)
        try:
            sign_in_check(attempt)
        except SignInThrottled as exc:
            throttled = exceptions.Throttled(detail=exc.messages[0])  # the message already says how long
            throttled.wait = exc.retry_after  # DRF answers it as Retry-After
            raise throttled from None
        row = widget_token_resolve(token=token)
        if row is None:
            sign_in_failed(attempt)
            raise exceptions.AuthenticationFailed("Your session has expired or was signed out; sign in again.")
        # The member is the token's, checked just now: request_membership must not look it up (or reuse a
        # value cached before authentication) on either request object.
        request._leadline_membership = row.membership
        request._request._leadline_membership = row.membership
        return row.membership.user, row

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class WidgetTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the widget's bearer token in the OpenAPI schema."""

    target_class = WidgetTokenAuthentication
    name = "widgetToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A widget token from a sign-in through a CRM (/auth/crm/<kind>/start?mode=widget).",
        }
