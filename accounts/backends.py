"""The session's user, loaded with their membership and its organization in one query.

Every signed-in request needs both: Django loads the user from the session, then `request_membership` (the tenant
of the request) looked the membership up in a second query. Loading them together reads the same rows at the
same moment, so a deactivated member, user or organization is refused on their very next request, as before.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

# What settings.AUTHENTICATION_BACKENDS names this class (sessions store it; logins without authenticate() pass it).
MEMBER_BACKEND = "accounts.backends.MemberBackend"


class MemberBackend(ModelBackend):
    """ModelBackend (email and password, active users only) whose `get_user` joins the membership."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and password is not None:
            # A wrong password ends here: ModelBackend, listed after us only for sessions signed in before this
            # class existed, must not hash the same password a second time.
            raise PermissionDenied
        return user

    def get_user(self, user_id: Any):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("membership__organization").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
