"""Twilio (through the twilio package) and Zoho Voice requests pass the outbound guard: an account whose vendor host
resolves to a private address is refused before any connection, as a typed error a person must fix (the other
provider may send; this one is not retried as if it were down). The resolver is faked: no test leaves the machine."""

from __future__ import annotations

import pytest

from messaging.providers.base import ProviderAuthError
from messaging.providers.twilio import TwilioProvider
from messaging.providers.zoho_voice.provider import ZohoVoiceProvider
from tests.core.test_outbound_guard import fake_resolver
from tests.factories import ZohoCrmAccountFactory


@pytest.fixture
def private_off(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False


def test_twilio_sends_through_the_guard(tenant_a, monkeypatch, private_off):
    asked = fake_resolver(monkeypatch, {"api.twilio.com": ["169.254.169.254"]})
    account = type(tenant_a.twilio).unscoped_objects.get(pk=tenant_a.twilio.pk)  # secrets as loaded from the table
    provider = TwilioProvider(account=account)
    with pytest.raises(ProviderAuthError, match="private") as refused:
        provider.send(from_number="+14155552000", to_number="+14155552001", body="hi", status_callback=None)
    assert refused.value.code == "endpoint_refused"
    assert refused.value.fail_over
    assert not refused.value.retryable
    assert asked == ["api.twilio.com"]


def test_zoho_voice_token_and_api_calls_go_through_the_guard(tenant_a, monkeypatch, private_off):
    account = ZohoCrmAccountFactory(
        organization=tenant_a.organization,
        name="acme-voice",
        kind="zoho_voice",
        api_domain="",
        accounts_url="https://accounts.zoho.com",
        api_base_url="https://voice.zoho.com",
    )
    fake_resolver(monkeypatch, {"accounts.zoho.com": ["10.0.0.8"], "voice.zoho.com": ["10.0.0.9"]})
    with pytest.raises(ProviderAuthError, match="private"):
        ZohoVoiceProvider(account=account).send(
            from_number="+14155552000", to_number="+14155552001", body="hi", status_callback=None
        )
