"""Zoho's own hosts, registered with the outbound guard (core/outbound.py) when Django starts: a manager may point
a Zoho CRM or Zoho Voice account at them and at nothing else."""

from __future__ import annotations

import pytest

from core import outbound
from core.outbound import OutboundRefused
from crm.providers.zoho.data_centres import ZOHO_DATA_CENTRES


@pytest.mark.parametrize(
    ("kind", "field", "url"),
    [
        ("zoho_crm", "accounts_url", "https://accounts.zoho.eu"),
        ("zoho_crm", "accounts_url", "https://accounts.zohocloud.ca/"),
        ("zoho_crm", "api_domain", "https://www.zohoapis.com.au"),
        ("zoho_crm", "api_domain", "https://WWW.ZohoAPIs.JP:443"),
        ("zoho_voice", "accounts_url", "https://accounts.zoho.in"),
        ("zoho_voice", "api_base_url", "https://voice.zoho.com"),
    ],
)
def test_zohos_own_hosts_are_allowed(kind, field, url):
    assert outbound.vendor_url_allowed(kind=kind, field=field, url=url)
    assert outbound.endpoint_clean(url, kind=kind, field=field, operator=False).startswith("https://")


@pytest.mark.parametrize(
    ("kind", "field", "url"),
    [
        ("zoho_crm", "api_domain", "https://accounts.zoho.com"),  # an accounts host is no API domain
        ("zoho_crm", "accounts_url", "https://www.zohoapis.com"),
        ("zoho_crm", "api_domain", "https://www.zohoapis.com:8443"),
        ("zoho_crm", "api_domain", "https://www.zohoapis.uk"),  # not confirmed by Zoho: not listed
        ("zoho_voice", "api_base_url", "https://api.twilio.com"),
    ],
)
def test_nothing_else_and_the_refusal_names_zoho(kind, field, url):
    assert not outbound.vendor_url_allowed(kind=kind, field=field, url=url)
    with pytest.raises(OutboundRefused, match="Zoho's own addresses"):
        outbound.endpoint_clean(url, kind=kind, field=field, operator=False)


def test_every_data_centre_is_registered():
    for dc in ZOHO_DATA_CENTRES.values():
        assert outbound.vendor_url_allowed(kind="zoho_crm", field="accounts_url", url=f"https://{dc.accounts}")
        assert outbound.vendor_url_allowed(kind="zoho_voice", field="accounts_url", url=f"https://{dc.accounts}")
        assert outbound.vendor_url_allowed(kind="zoho_voice", field="api_base_url", url=f"https://{dc.voice}")
        if dc.api:
            assert outbound.vendor_url_allowed(kind="zoho_crm", field="api_domain", url=f"https://{dc.api}")
