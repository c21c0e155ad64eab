"""Zoho-specific parts of the Zoho provider: its error translation, its names, what it refuses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from crm.errors import (
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmQuotaExhausted,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
)
from crm.providers.zoho.errors import (
    ZohoAuthError,
    ZohoBudgetExceeded,
    ZohoConcurrencyTimeout,
    ZohoCreditsExhausted,
    ZohoRateLimited,
    ZohoRecordError,
    ZohoRequestError,
    ZohoScopeError,
    ZohoUnavailable,
)
from crm.providers.zoho.provider import ZohoCrmProvider
from crm.providers.zoho.tokens import ZohoReauthRequired, ZohoTokenUnavailable
from crm.providers.zoho.translation import crm_error_of
from crm.registry import provider_for
from tests.crm.zoho.conftest import crm_account
from tests.factories import OrganizationFactory


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ZohoAuthError("refused", status=401, code="INVALID_TOKEN"), CrmAuthError),
        (ZohoScopeError("scope", status=401, code="OAUTH_SCOPE_MISMATCH"), CrmAuthError),
        (ZohoReauthRequired("invalid_code"), CrmAuthError),
        (ZohoRateLimited("429", status=429, retry_after=7.0), CrmRateLimited),
        (ZohoCreditsExhausted("credits", status=429), CrmQuotaExhausted),
        (ZohoBudgetExceeded("budget"), CrmQuotaExhausted),
        (ZohoUnavailable("503", status=503), CrmUnavailable),
        (ZohoConcurrencyTimeout("slots"), CrmUnavailable),
        (ZohoTokenUnavailable("accounts down", retry_after=30.0), CrmUnavailable),
        (ZohoRequestError("bad", status=400, code="INVALID_QUERY"), CrmRejected),
        (ZohoRequestError("gone", status=404, code="INVALID_URL_PATTERN"), CrmNotFound),
    ],
)
def test_zoho_errors_become_crm_errors(error, expected):
    translated = crm_error_of(error)
    assert type(translated) is expected
    assert translated.provider == "zoho"
    if isinstance(translated, CrmUnavailable) and getattr(error, "retry_after", None):
        assert translated.retry_after == error.retry_after
    if isinstance(translated, CrmRateLimited) and not isinstance(translated, CrmQuotaExhausted):
        assert translated.retry_after == 7.0


def test_per_record_errors_name_their_fields():
    error = ZohoRecordError(
        "refused",
        results=[
            {"code": "SUCCESS", "status": "success", "details": {"id": "1"}},
            {
                "code": "INVALID_DATA",
                "status": "error",
                "message": "invalid data",
                "details": {"api_name": "Mobile", "expected_data_type": "phone"},
            },
        ],
        status=207,
    )
    translated = crm_error_of(error)
    assert type(translated) is CrmRejected
    assert translated.field_errors == {"Mobile": "invalid data"}
    assert translated.message == "invalid data"
    missing = ZohoRecordError(
        "refused",
        results=[
            {
                "code": "INVALID_DATA",
                "status": "error",
                "message": "the id given seems to be invalid",
                "details": {"api_name": "id"},
            }
        ],
    )
    assert type(crm_error_of(missing)) is CrmNotFound


def test_an_unknown_error_is_still_a_crm_error():
    assert type(crm_error_of(RuntimeError("?"))) is CrmError


def test_only_zoho_crm_accounts(db):
    with pytest.raises(ValueError, match="not a Zoho CRM account"):
        ZohoCrmProvider(SimpleNamespace(kind="zoho_voice"))


def test_names_canonical_and_zoho_modules(db):
    account = crm_account(OrganizationFactory(), SimpleNamespace(url="http://127.0.0.1:9"))
    provider = provider_for(account)
    assert isinstance(provider, ZohoCrmProvider)
    assert provider.vendor_object("lead") == "Leads"
    assert provider.vendor_object("deal") == "Deals"
    assert provider.vendor_object("Studio_Visits") == "Studio_Visits"  # a custom module by its API name
    assert provider.canonical_object("Contacts") == "contact"
    assert provider.canonical_object("Studio_Visits") == "Studio_Visits"
    with pytest.raises(ValueError, match="unknown object"):
        provider.vendor_object("spaceship")


def test_a_record_id_that_is_not_zohos_is_not_found_without_a_call(db):
    account = crm_account(OrganizationFactory(), SimpleNamespace(url="http://127.0.0.1:9"))
    with pytest.raises(CrmNotFound, match="not a Zoho record id"):
        provider_for(account).record(object="lead", record_id="1 or 1=1")
