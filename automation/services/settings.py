"""Automation settings writes: the webhook token an organization's Zoho workflow rule calls with."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction

from automation.models import AutomationSettings, token_digest
from studios.models import Organization


def automation_webhook_token_rotate(*, organization: Organization) -> str:
    """Issue a new webhook token (the old one stops working at once) and return the URL to put in Zoho."""
    return automation_webhook_token_set(organization=organization, token=secrets.token_urlsafe(32))


@transaction.atomic
def automation_webhook_token_set(*, organization: Organization, token: str) -> str:
    """Use `token` as the organization's webhook token (the demo's is fixed and public); returns the URL."""
    row = AutomationSettings.objects.for_organization(organization).select_for_update().first()
    row = row or AutomationSettings(organization=organization)
    row.webhook_token = token
    row.webhook_token_digest = token_digest(token)
    row.save()
    return automation_webhook_url(token=token)


def automation_webhook_url(*, token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/webhooks/zoho/leads/{token}/"
