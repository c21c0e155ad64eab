"""Automation settings writes: the webhook token an organization's CRM workflow rule calls with."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from automation.models import AutomationSettings, token_digest
from crm.connections import crm_connection_get
from crm.registry import provider_class, registered
from studios.models import Organization

# The token is a URL path segment the CRM's workflow calls: URL-safe characters only, and long enough not to be guessed
# (ours are 43 characters of token_urlsafe(32)).
TOKEN_MIN_LENGTH = 32
TOKEN_MAX_LENGTH = 200
_TOKEN_CHARACTERS = re.compile(r"^[A-Za-z0-9_-]+$")


def automation_webhook_token_rotate(*, organization: Organization) -> str:
    """Issue a new webhook token (the old one stops working at once) and return the URL to put in the CRM."""
    return automation_webhook_token_set(organization=organization, token=secrets.token_urlsafe(32))


def automation_webhook_token_validate(token: str) -> None:
    """ValidationError (never quoting the token) unless `token` can serve as the secret of a webhook URL."""
    if not TOKEN_MIN_LENGTH <= len(token) <= TOKEN_MAX_LENGTH:
        raise ValidationError(
            f"the webhook token must have at least {TOKEN_MIN_LENGTH} characters (at most {TOKEN_MAX_LENGTH}); "
            f"this one has {len(token)}. Make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if not _TOKEN_CHARACTERS.match(token):
        raise ValidationError(
            "the webhook token goes into a URL: use only letters, digits, '-' and '_' (as secrets.token_urlsafe)"
        )


def automation_webhook_token_is(*, organization: Organization, token: str) -> bool:
    """Whether `token` is already the organization's webhook token (compared by digest)."""
    digest = AutomationSettings.objects.for_organization(organization).values_list("webhook_token_digest", flat=True)
    return token_digest(token) in set(digest)


@transaction.atomic
def automation_webhook_token_set(*, organization: Organization, token: str) -> str:
    """Use `token` as the organization's webhook token (the demo's is fixed and public); returns the URL.

    The old token stops working at once (there is no grace period): the workflow rule in the CRM must be given the
    new URL. A token of another organization is refused (ValidationError), as is one unfit for a URL."""
    automation_webhook_token_validate(token)
    digest = token_digest(token)
    # Unscoped: uniqueness is across every tenant (the token alone tells which organization calls).
    taken = AutomationSettings.objects.unscoped().filter(webhook_token_digest=digest).exclude(organization=organization)
    if taken.exists():
        raise ValidationError("this webhook token is already used by another organization; every one needs its own")
    row = AutomationSettings.objects.for_organization(organization).select_for_update().first()
    row = row or AutomationSettings(organization=organization)
    row.webhook_token = token
    row.webhook_token_digest = digest
    row.save()
    return automation_webhook_url(token=token, organization=organization)


def automation_webhook_url(*, token: str, organization: Organization) -> str:
    """The URL the organization's CRM calls on a new lead: the kind of its CRM connection in the path (with none
    yet, the first CRM the product serves)."""
    connection = crm_connection_get(organization=organization)
    kinds = registered()
    kind = provider_class(connection.kind).kind if connection is not None else (kinds[0] if kinds else "")
    return f"{settings.PUBLIC_BASE_URL}/webhooks/crm/{kind}/leads/{token}/"
