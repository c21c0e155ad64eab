"""What the bad-input tests and the fuzzers share: signed Twilio posts, a Zoho lead token, a live notification
channel, and a widget client signed in as a manager."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlencode

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from automation.services.settings import automation_webhook_token_set
from identity.tokens import widget_token_issue
from sync.models import NotificationChannel, channel_secret_digest

# Hypothesis: bounded and derandomized (the same examples every run, so CI is stable; see README, "Tests").
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# Any character a form or JSON can carry (lone surrogates cannot be UTF-8), NUL and control characters first.
CHARS = st.one_of(st.sampled_from("\x00\x01\r\n\t%&=+ \u00e9\u200b\ufeff\U0001f600"), st.characters(codec="utf-8"))
TEXT = st.text(CHARS, max_size=40)

SMS = "/webhooks/twilio/sms/"
STATUS = "/webhooks/twilio/status/"
NOTIFICATIONS = "/webhooks/zoho/notifications/"
FORM = "application/x-www-form-urlencoded"
TWILIO_TOKEN = "acme-twilio-token-0001"
LEAD_TOKEN = "acme-lead-webhook-token-00000000000000000001"


def twilio_signed(tenant) -> None:
    """Give the tenant's Twilio account a known auth token."""
    tenant.twilio.auth_token = TWILIO_TOKEN
    tenant.twilio.save()


def sms_params(tenant, **extra) -> dict:
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": tenant.twilio.account_sid,
        "From": "+16175550142",
        "To": tenant.number.number,
        "Body": "Is the pool open?",
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def status_params(tenant, **extra) -> dict:
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": tenant.twilio.account_sid,
        "From": tenant.number.number,
        "To": "+16175550142",
        "MessageStatus": "delivered",
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def twilio_post(client: Client, path: str, params: dict, *, token: str = TWILIO_TOKEN, query: str = ""):
    """POST the form as Twilio does, signed over PUBLIC_BASE_URL + path (+ query) and the params."""
    url = path + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(django_settings.PUBLIC_BASE_URL + url, params)
    return client.generic("POST", url, urlencode(params), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature)


def lead_webhook(tenant) -> str:
    automation_webhook_token_set(organization=tenant.organization, token=LEAD_TOKEN)
    return f"/webhooks/zoho/leads/{LEAD_TOKEN}/"


def live_channel(tenant) -> NotificationChannel:
    url_secret = secrets.token_urlsafe(32)
    return NotificationChannel.objects.for_organization(tenant.organization).create(
        organization=tenant.organization,
        connection=tenant.zoho,
        channel_id=10**12 + tenant.organization.pk,
        token="channel-token-0001",
        url_secret=url_secret,
        url_secret_digest=channel_secret_digest(url_secret),  # what a callback is looked up by
        objects_watched=["lead"],
        expires_at=timezone.now() + timedelta(days=1),
        is_active=True,
    )


def widget_client(member) -> Client:
    token, _ = widget_token_issue(membership=member)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def rolled_back(check) -> None:
    """Run `check` in a savepoint that is rolled back: every example starts from the same database."""
    with transaction.atomic():
        check()
        transaction.set_rollback(True)
