"""The session's user, loaded with their membership and its organization in one query.

Every signed-in request needs both: Django loads the user from the session, then `request_membership` (the tenant
of the request) looked the membership up in a second query. Loading them together reads the same rows at the
same moment, so a deactivated member, user or organization is refused on their very next request, as before.

On PostgreSQL the statement is built once from the three models' fields and the instances from its row: the ORM
took ~2 ms of CPU per request to build, compile and populate this one query on an idle machine (0.8 ms raw), a
third of a widget thread page. PostgreSQL returns every one of these columns as its Python type, so no converter
is needed; elsewhere (SQLite, the embedded default) the ORM loads them.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Model
from django.http import HttpRequest

from identity.throttle import PASSWORD, SignInAttempt, sign_in_check, sign_in_failed, sign_in_succeeded
from studios.models import Membership, Organization

# What settings.AUTHENTICATION_BACKENDS names this class (sessions store it; logins without authenticate() pass it).
MEMBER_BACKEND = "identity.backends.MemberBackend"


class MemberBackend(ModelBackend):
    """ModelBackend (email and password, active users only) whose `get_user` joins the membership."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ):
        if password is None:
            return super().authenticate(request, username=username, password=password, **kwargs)
        # Every password form (the admin's, the staff login) comes through here: the one place sign-ins are
        # throttled. A locked account or address is refused before the password is looked at.
        account = username if username is not None else kwargs.get(get_user_model().USERNAME_FIELD)
        attempt = SignInAttempt.for_request(kind=PASSWORD, request=request, account=account)
        sign_in_check(attempt)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            sign_in_failed(attempt)
            # A wrong password ends here: ModelBackend, listed after us only for sessions signed in before this
            # class existed, must not hash the same password a second time.
            raise PermissionDenied
        sign_in_succeeded(attempt)
        return user

    def get_user(self, user_id: Any):
        user_model = get_user_model()
        if connection.vendor == "postgresql":
            user = _user_with_membership(user_id)
        else:
            user = user_model._default_manager.select_related("membership__organization").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


@functools.cache
def _member_statement() -> tuple[str, list[tuple[type[Model], list[str]]]]:
    """The SELECT of a user with their membership and its organization (LEFT JOINs: operators have none), and
    each model's field attnames in the order of its columns."""
    quote = connection.ops.quote_name
    user_model = get_user_model()
    parts = [(user_model, "u"), (Membership, "m"), (Organization, "o")]
    columns = [f"{alias}.{quote(f.column)}" for model, alias in parts for f in model._meta.concrete_fields]
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(user_model._meta.db_table)} AS u "  # noqa: S608 (our own names)
        f"LEFT JOIN {quote(Membership._meta.db_table)} AS m ON m.{quote('user_id')} = u.{quote('id')} "
        f"LEFT JOIN {quote(Organization._meta.db_table)} AS o ON o.{quote('id')} = m.{quote('organization_id')} "
        f"WHERE u.{quote('id')} = %s"
    )
    return sql, [(model, [f.attname for f in model._meta.concrete_fields]) for model, _ in parts]


def _user_with_membership(user_id: Any) -> Any:
    """The user with `membership` and `membership.organization` cached as select_related caches them (a user
    without a membership has it cached as missing), or None."""
    user_model = get_user_model()
    try:
        pk = user_model._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    sql, layout = _member_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for model, attnames in layout:
        values = row[start : start + len(attnames)]
        start += len(attnames)
        instances.append(model.from_db(connection.alias, attnames, values) if values[0] is not None else None)
    user, membership, organization = instances
    user_field = Membership._meta.get_field("user")
    user_field.remote_field.set_cached_value(user, membership)
    if membership is not None:
        user_field.set_cached_value(membership, user)
        Membership._meta.get_field("organization").set_cached_value(membership, organization)
    return user
