"""The one tenant-scoped base of every API view: who is asking, what they may see, and 404 for the rest; the
API's one error shape.

Tenancy is enforced here and only here. The member comes from the signed-in user (`request_membership`, one
membership per user); each view says what it shows with `scoped_queryset(member)`, which must start from
`.visible_to(member)`. `get_queryset` is sealed: a view that overrides it, sets a class-level `queryset`, or
forgets `scoped_queryset` fails at import time (PostHog's `__init_subclass__` guard), never in production.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, permissions, serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from core.admin_site import request_membership

if TYPE_CHECKING:
    from studios.models import Membership


class ErrorSerializer(serializers.Serializer):
    """Every failure: `{"message", "extra"}` (core.exceptions.api_exception_handler)."""

    message = serializers.CharField()
    extra = serializers.DictField()


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session auth (CSRF enforced on unsafe methods), answering 401 rather than 403 to the anonymous."""

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate value makes DRF answer 401 (not signed in) distinctly from 403 (not allowed).
        return 'Session realm="api"'


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the session cookie for our subclass (drf-spectacular knows only DRF's own class)."""

    target_class = SessionAuthentication
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class IsActiveMember(permissions.BasePermission):
    """Signed in with an active membership of an active organization (operators and the inactive: refused)."""

    message = "You have no active membership in an organization."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request_membership(request) is not None


# Who may call: the widget's bearer token first (no cookie is involved, so no CSRF), then the session. The token is
# sign-in's (identity/): named here and imported on first use, so core imports no app above it.
API_AUTHENTICATION = ("identity.authentication.WidgetTokenAuthentication", "core.api.SessionAuthentication")


@cache
def api_authentication_classes() -> tuple[type[authentication.BaseAuthentication], ...]:
    return tuple(import_string(path) for path in API_AUTHENTICATION)


class TenantApi(GenericAPIView):
    """Base of every API view. Subclasses implement `scoped_queryset(member)` from `.visible_to(member)`."""

    permission_classes: ClassVar[list] = [permissions.IsAuthenticated, IsActiveMember]
    _sealed = ("get_queryset", "queryset")

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._sealed:
            if name in cls.__dict__:
                raise TypeError(f"{cls.__name__} must not define {name}: implement scoped_queryset(member) instead")
        if not abstract and not any("scoped_queryset" in vars(k) for k in cls.__mro__ if k is not TenantApi):
            raise TypeError(f"{cls.__name__} has no tenant scope: implement scoped_queryset(member)")

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable:
        # ATOMIC_REQUESTS would wrap every request in BEGIN ... COMMIT, two round trips a read does not need (its
        # queries see committed data either way); dispatch() keeps the transaction for the methods that write.
        return transaction.non_atomic_requests(super().as_view(**initkwargs))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method in permissions.SAFE_METHODS and not transaction.get_connection().in_atomic_block:
            return super().dispatch(request, *args, **kwargs)
        # What ATOMIC_REQUESTS gives every other view. Also for a read inside a caller's transaction (a test's):
        # DRF marks the innermost atomic block for rollback when it answers an error, which must be ours.
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)

    def get_authenticators(self) -> list[authentication.BaseAuthentication]:
        return [auth() for auth in api_authentication_classes()]

    @property
    def member(self) -> Membership | None:
        """The signed-in member; None only during schema generation (permissions refuse anyone else)."""
        return request_membership(self.request)

    def scoped_queryset(self, member: Membership | None) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        return self.scoped_queryset(self.member)

    def get_object(self) -> Model:
        """The object named in the URL, through the scope: 404 alike for "not yours" and "not there"."""
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        try:
            return self.get_queryset().get(**{self.lookup_field: int(lookup)})
        except (ValueError, TypeError, self.get_queryset().model.DoesNotExist):
            raise NotFound() from None


def visible_or_404(queryset: QuerySet, pk: Any, *, field: str) -> Model:
    """A row of an already scoped queryset named in a request body, or 404 (same answer as a URL id)."""
    try:
        return queryset.get(pk=int(pk))
    except (ValueError, TypeError, queryset.model.DoesNotExist):
        raise NotFound(f"No such {field}.") from None
