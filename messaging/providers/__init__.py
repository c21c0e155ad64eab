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
    "vendor_hosts_register",
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


def vendor_hosts_register() -> None:
    """Each SMS provider's own hosts, the only ones a manager may point an account at (core.outbound)."""
    from messaging.providers import twilio
    from messaging.providers.zoho_voice import provider as zoho_voice

    twilio.vendor_hosts_register()
    zoho_voice.vendor_hosts_register()
