"""Twilio's webhooks: inbound texts and status callbacks. Verify, record, enqueue, answer; nothing else here.

The tenant comes from our own number (the `To` of an inbound text, the `From` of a status callback), and the
signature is checked with the token of the account that owns it, over PUBLIC_BASE_URL + the path Twilio called
(never the Host header, which a TLS-terminating proxy changes). A text to a number we do not know is accepted
only if it verifies against a Twilio account of ours (by its AccountSid), and is then kept, flagged.
"""

from __future__ import annotations

import structlog

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from core.phone import normalize_e164
from core.webhooks import webhook_record, webhook_view
from messaging.providers.twilio import twilio_signature_valid
from messaging.selectors import inbound_number_get_cached, inbound_number_remember, twilio_accounts_with_sid
from studios.models import ProviderAccount

logger = structlog.get_logger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _twiml() -> HttpResponse:
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _refuse(status: int, reason: str, **fields) -> HttpResponse:
    logger.warning("twilio_webhook_refused", status=status, reason=reason, **fields)
    return HttpResponse(reason, status=status, content_type="text/plain")


def _signed_by(account: ProviderAccount, *, url: str, request: HttpRequest, signature: str) -> bool:
    token = account.auth_token.reveal() if account.auth_token else ""
    return twilio_signature_valid(auth_token=token, url=url, params=request.POST, signature=signature)


def _verified_account(request: HttpRequest, our_number: str) -> tuple[ProviderAccount | None, bool]:
    """The account whose token signed this request, and whether `our_number` is one of its numbers."""
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    signature = request.headers.get("X-Twilio-Signature", "")
    try:
        e164 = normalize_e164(our_number)
    except ValidationError:
        e164 = None
    if e164:
        number, remembered = inbound_number_get_cached(provider="twilio", number=e164)
        if number is not None:
            if _signed_by(number.account, url=url, request=request, signature=signature):
                return number.account, True
            if not remembered:
                return None, True
            # The remembered token did not verify: the token or the number may have changed since; ask the database.
            number = inbound_number_remember(provider="twilio", number=e164)
            if number is not None:
                valid = _signed_by(number.account, url=url, request=request, signature=signature)
                return (number.account, True) if valid else (None, True)
    account_sid = request.POST.get("AccountSid", "")
    if "\x00" in account_sid:  # none of ours has one, and PostgreSQL refuses it in a query
        return None, False
    for account in twilio_accounts_with_sid(account_sid=account_sid):
        if _signed_by(account, url=url, request=request, signature=signature):
            return account, False
    return None, False


def _payload(request: HttpRequest) -> dict:
    return {key: values if len(values) > 1 else values[0] for key, values in request.POST.lists()}


@webhook_view
def twilio_sms_inbound(request: HttpRequest) -> HttpResponse:
    """A text to one of our numbers. Answered with empty TwiML at once; the task routes and answers it.
    The signature is checked over the parameters as sent; what is stored has any NUL removed (`webhook_record`)."""
    sid, to = request.POST.get("MessageSid", ""), request.POST.get("To", "")
    account, known = _verified_account(request, to)
    if account is None:
        return _refuse(403, "Invalid signature", to=to, known_number=known)
    if not sid or not request.POST.get("From") or not to:
        return _refuse(400, "MessageSid, From and To are required", sid=sid)
    if known:
        webhook_record(
            source="twilio.sms",
            key=sid,
            payload=_payload(request),
            organization=account.organization,
            raw_body=request.body,
        )
    else:
        # Genuine (it verified against our account) but to a number we do not route: kept for a person.
        webhook_record(
            source="twilio.sms",
            key=sid,
            payload=_payload(request),
            organization=account.organization,
            status="flagged",
            error=f"A text to {to}, which is not one of the organization's numbers",
            raw_body=request.body,
        )
        logger.warning("twilio_inbound_unknown_number", to=to, organization=account.organization.slug)
    return _twiml()


@webhook_view
def twilio_status_callback(request: HttpRequest) -> HttpResponse:
    """A delivery status for a text we sent; keyed by (MessageSid, MessageStatus), one message gets several."""
    sid, status = request.POST.get("MessageSid", ""), request.POST.get("MessageStatus", "")
    account, _ = _verified_account(request, request.POST.get("From", ""))
    if account is None:
        return _refuse(403, "Invalid signature", sid=sid)
    if not sid or not status:
        return _refuse(400, "MessageSid and MessageStatus are required", sid=sid)
    webhook_record(
        source="twilio.status",
        key=f"{sid}:{status}",
        payload=_payload(request),
        organization=account.organization,
        raw_body=request.body,
    )
    return HttpResponse(status=200)
