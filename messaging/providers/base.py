"""The interface every SMS provider implements, and the typed errors services decide on.

Retryable errors (the provider is down or busy) make a send fail over to the other provider, then retry with
backoff; rejections (the number is invalid, the lead opted out) fail the message and never fail over, because
another provider would refuse it for the same reason or, worse, deliver a text the lead asked not to get.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ProviderError(Exception):
    """A provider refused or failed a call. `code` is the provider's own (Twilio 21211, ZVSMS-4038, ...)."""

    retryable = False
    fail_over = False

    def __init__(self, message: str, *, code: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = str(code or "")
        self.status = status


class ProviderUnavailable(ProviderError):
    """Timeout, connection refused, 5xx: try the other provider, then again later."""

    retryable = True
    fail_over = True


class ProviderRateLimited(ProviderUnavailable):
    """429 / Twilio 20429: the provider is busy; same handling as unavailable."""


class ProviderOutcomeUnknown(ProviderError):
    """The request reached the provider but no answer came back (a read timeout, a dropped connection): the text
    may have been taken. Never fail over on this (the lead could get it twice); ask the provider (`find_sent`)
    and, if it cannot say, try again later, asking first."""

    retryable = True


class ProviderAuthError(ProviderError):
    """Our credentials were refused (e.g. Twilio 20003, a revoked token): this provider cannot send for us until a
    person fixes the account, so fail over, but retrying the same provider is pointless."""

    fail_over = True


class ProviderRejected(ProviderError):
    """The provider refused this message for a reason another provider would share (invalid number...)."""


class RecipientOptedOut(ProviderRejected):
    """Twilio 21610: the recipient texted STOP to this sender, which the provider now blocks for them (a block
    per sender: the person's consent is the ledger's business, see services.opt_out.opt_out_provider_refusal)."""


@dataclass(frozen=True)
class SendResult:
    """What a provider answered to a send."""

    provider_message_id: str
    status: str  # our Message.Status value: accepted, queued, sent...
    segments: int | None = None
    provider_log_id: str | None = None  # its log id, for a provider whose texts are matched to polled logs


class SmsProvider(Protocol):
    name: str

    def send(self, *, from_number: str, to_number: str, body: str, status_callback: str | None) -> SendResult:
        """Hand one text to the provider, or raise a ProviderError subclass."""
        ...

    def find_sent(self, *, from_number: str, to_number: str, body: str, since: datetime) -> SendResult | None:
        """The text if the provider took it since `since` (after an unknown outcome), else None; raises a
        ProviderError when the provider cannot be asked."""
        ...
