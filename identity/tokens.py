"""Widget tokens: issue one for a member, resolve a presented one, revoke it.

A token is 32 random bytes; only its SHA-256 digest is stored (a slow hash buys nothing for a random secret, and
the lookup stays one indexed query). A token works only while it is unexpired, unrevoked, and its membership,
user and organization are all active, so deactivating a member refuses their token on the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from identity.models import WidgetToken
from studios.models import Membership

TOKEN_PREFIX = "llw_"  # noqa: S105 (not a secret) recognisable in a leaked log line or a secret scanner
# Expired or revoked rows older than this are deleted (they only ever answer "no"): when the member signs in again,
# and for everyone by the hourly `widget_tokens_expired_delete_task`.
EXPIRED_KEEP = timedelta(days=1)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def widget_token_issue(*, membership: Membership) -> tuple[str, WidgetToken]:
    """A new token for the member (shown once) and its row."""
    now = timezone.now()
    WidgetToken.objects.for_organization(membership.organization).filter(
        membership=membership, expires_at__lt=now - EXPIRED_KEEP
    ).delete()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = WidgetToken.objects.create(
        organization=membership.organization,
        membership=membership,
        token_hash=token_digest(token),
        expires_at=now + timedelta(seconds=settings.ACCOUNTS_WIDGET_TOKEN_SECONDS),
    )
    return token, row


def widget_token_resolve(*, token: str) -> WidgetToken | None:
    """The live token row (with its membership) for a presented token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return (
        WidgetToken.objects.unscoped()  # the tenant is being established here, from the token
        .select_related("membership__user", "membership__organization")
        .filter(
            token_hash=token_digest(token),
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            organization=F("membership__organization"),
            membership__is_active=True,
            membership__user__is_active=True,
            membership__organization__is_active=True,
        )
        .first()
    )


def widget_token_revoke(*, token: WidgetToken) -> None:
    """Sign-out: the token stops working at once."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])


def widget_tokens_revoke(*, tokens: QuerySet[WidgetToken]) -> int:
    """Revoke several sessions at once (a manager in the admin); how many were still live."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def widget_tokens_expired_delete() -> int:
    """Delete every organization's token rows that expired or were revoked more than EXPIRED_KEEP ago; how many.
    Maintenance across tenants (it deletes only rows that can no longer sign anyone in)."""
    cutoff = timezone.now() - EXPIRED_KEEP
    stale = WidgetToken.objects.unscoped().filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff))
    deleted, _ = stale.delete()
    return deleted
