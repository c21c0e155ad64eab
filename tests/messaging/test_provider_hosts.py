"""Twilio's own hosts, registered with the outbound guard (core/outbound.py) when Django starts."""

from __future__ import annotations

import pytest

from core import outbound
from core.outbound import OutboundRefused


def test_twilios_api_host_is_allowed():
    assert outbound.vendor_url_allowed(kind="twilio", field="api_base_url", url="https://api.twilio.com")
    assert outbound.vendor_hosts(kind="twilio", field="api_base_url") == ["api.twilio.com"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://api.twilio.com", "https"),
        ("https://api.twilio.com.evil.example", "twilio's own addresses"),
        ("https://voice.zoho.com", "twilio's own addresses"),
    ],
)
def test_nothing_else(url, why):
    assert not outbound.vendor_url_allowed(kind="twilio", field="api_base_url", url=url)
    with pytest.raises(OutboundRefused) as refused:
        outbound.endpoint_clean(url, kind="twilio", field="api_base_url", operator=False)
    assert why in refused.value.message.lower()
