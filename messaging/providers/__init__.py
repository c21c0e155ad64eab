"""SMS providers behind one interface (base.SmsProvider): Twilio and Zoho Voice. Services ask `provider_for`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from messaging.providers.base import (
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    RecipientOptedOut,
    SendResult,
    SmsProvider,
)

if TYPE_CHECKING:
    from studios.models import PhoneNumber

__all__ = [
    "ProviderAuthError",
    "ProviderError",
    "ProviderOutcomeUnknown",
    "ProviderRateLimited",
    "ProviderRejected",
    "ProviderUnavailable",
    "RecipientOptedOut",
    "SendResult",
    "SmsProvider",
    "provider_for",
]


def provider_for(phone_number: PhoneNumber) -> SmsProvider:
    """The provider client for one of our numbers, with the credentials of the account that owns it."""
    if phone_number.provider == "twilio":
        from messaging.providers.twilio import TwilioProvider

        return TwilioProvider(account=phone_number.account)
    if phone_number.provider == "zoho_voice":
        from messaging.providers.zoho_voice.provider import ZohoVoiceProvider

        return ZohoVoiceProvider(account=phone_number.account)
    raise ValueError(f"no SMS provider {phone_number.provider!r}")
