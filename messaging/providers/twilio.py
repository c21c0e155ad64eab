"""Twilio through the `twilio` package: send, and the signature check of its webhooks.

The account's `api_base_url` is where Twilio lives (the real API, or the local sandbox), set on the client's
`api` domain; `TWILIO_EDGE`/`TWILIO_REGION` stay unset so the host is never rewritten (docs/vendors/twilio.md,
twilio-python against an emulator). The package's HTTP client sends through a `core.http.make_session` session,
so every Twilio request passes the outbound guard.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from django.conf import settings

from core import outbound
from core.http import make_session, request_never_reached
from core.outbound import OutboundRefused
from messaging.providers.base import (
    ProviderAuthError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    RecipientOptedOut,
    SendResult,
)
from messaging.providers.registry import SmsProviderInfo
from studios.models import ProviderAccount

SMS_PROVIDER = SmsProviderInfo(name="twilio", label="Twilio", provider="messaging.providers.twilio.TwilioProvider")

# Twilio's message statuses, in our terms.
STATUS_MAP = {
    "accepted": "accepted",
    "scheduled": "accepted",
    "queued": "accepted",
    "sending": "accepted",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "read": "read",
    "received": "received",
    "receiving": "received",
    "canceled": "failed",
    "partially_delivered": "delivered",
}
OPTED_OUT_CODES = frozenset({"21610"})
AUTH_CODES = frozenset({"20003", "20005", "20006"})
# Twilio's REST API. Regional edge hosts are not used: TWILIO_EDGE/TWILIO_REGION stay unset (docs/messaging.md).
API_HOSTS = frozenset({"api.twilio.com"})


def vendor_hosts_register() -> None:
    """The hosts a manager may give a Twilio account (core.outbound); called when Django starts."""
    outbound.vendor_hosts_register(kind="twilio", vendor="Twilio", fields={"api_base_url": API_HOSTS})


def twilio_signature_valid(*, auth_token: str, url: str, params: Mapping, signature: str) -> bool:
    """Twilio's own validator (constant-time compare; tries the URL with and without the default port)."""
    if not signature or not auth_token:
        return False
    return RequestValidator(auth_token).validate(url, params, signature)


class GuardedTwilioHttpClient(TwilioHttpClient):
    """The twilio package's HTTP client on our session: a timeout always, and the outbound guard on every call."""

    def __init__(self, *, timeout: float):
        super().__init__(timeout=timeout)
        self.session = make_session("twilio", timeout=timeout, retries=0)


class TwilioProvider:
    name = "twilio"

    def __init__(self, *, account: ProviderAccount, timeout: float | None = None):
        self._account = account
        token = account.auth_token.reveal() if account.auth_token else ""
        http_client = GuardedTwilioHttpClient(timeout=timeout or settings.TWILIO_TIMEOUT_SECONDS)
        self._client = Client(account.account_sid, token, http_client=http_client)
        self._client.api.base_url = (account.api_base_url or "https://api.twilio.com").rstrip("/")

    def send(self, *, from_number: str, to_number: str, body: str, status_callback: str | None) -> SendResult:
        kwargs = {"to": to_number, "from_": from_number, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self._client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _error_from(exc) from exc
        except OutboundRefused as exc:
            raise _refused(exc) from exc
        except requests.RequestException as exc:
            if request_never_reached(exc):
                raise ProviderUnavailable(f"Twilio unreachable: {exc.__class__.__name__}", code="unreachable") from exc
            raise ProviderOutcomeUnknown(
                f"Twilio did not answer: {exc.__class__.__name__}", code="outcome_unknown"
            ) from exc
        return _result(message)

    def find_sent(self, *, from_number: str, to_number: str, body: str, since: datetime) -> SendResult | None:
        """Twilio's newest messages from our number to the lead: the one with this body created since `since`."""
        try:
            recent = self._client.messages.list(to=to_number, from_=from_number, limit=20)
        except TwilioRestException as exc:
            raise _error_from(exc) from exc
        except OutboundRefused as exc:
            raise _refused(exc) from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"Twilio did not answer: {exc.__class__.__name__}", code="timeout") from exc
        for message in recent:
            created = message.date_created
            if message.body == body and (created is None or created >= since):
                return _result(message)
        return None


def _result(message) -> SendResult:
    segments = int(message.num_segments) if str(message.num_segments or "").isdigit() else None
    return SendResult(
        provider_message_id=message.sid,
        status=STATUS_MAP.get(message.status or "", "accepted"),
        segments=segments or None,
    )


def _refused(exc: OutboundRefused) -> ProviderAuthError:
    # The account's endpoint may not be called (a private address): nothing was sent, and only a person fixing
    # the account helps, so the other provider may send and this one is not retried.
    return ProviderAuthError(f"Twilio account endpoint refused: {exc.message}", code="endpoint_refused")


def _error_from(exc: TwilioRestException):
    code = str(exc.code or exc.status)
    text = f"Twilio {code}: {exc.msg}"
    if exc.status == 429 or code == "20429":
        return ProviderRateLimited(text, code=code, status=exc.status)
    if exc.status >= 500:
        return ProviderUnavailable(text, code=code, status=exc.status)
    if exc.status == 401 or code in AUTH_CODES:
        return ProviderAuthError(text, code=code, status=exc.status)
    if code in OPTED_OUT_CODES:
        return RecipientOptedOut(text, code=code, status=exc.status)
    return ProviderRejected(text, code=code, status=exc.status)
