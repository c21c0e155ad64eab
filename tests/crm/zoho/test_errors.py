"""One Zoho error family: every exception the Zoho package raises is a ZohoError (the token broker's too), the old
names still import, and `crm_error_of` turns each into the CRM error callers act on."""

from __future__ import annotations

import inspect

import pytest

from crm.errors import CrmAuthError, CrmError, CrmNotFound, CrmRejected, CrmUnavailable
from crm.providers.zoho import errors, oauth, tokens
from crm.providers.zoho.errors import (
    ZohoAuthError,
    ZohoError,
    ZohoExchangeFailed,
    ZohoExportFailed,
    ZohoRequestError,
    ZohoTokenUnavailable,
    ZohoUnavailable,
)
from crm.providers.zoho.translation import crm_error_of, translated


def test_every_zoho_exception_derives_from_one_base():
    classes = [value for value in vars(errors).values() if inspect.isclass(value) and issubclass(value, Exception)]
    assert len(classes) >= 12
    assert all(issubclass(cls, ZohoError) for cls in classes)


def test_the_oauth_code_exchanges_error_is_the_familys():
    assert oauth.ExchangeFailed is ZohoExchangeFailed
    error = oauth.ExchangeFailed("error", "invalid_code")
    assert (error.reason, error.detail, error.code) == ("error", "invalid_code", "EXCHANGE_ERROR")


def test_the_token_brokers_old_names_are_the_familys():
    assert tokens.ZohoReauthRequired is errors.ZohoReauthRequired is ZohoAuthError
    assert tokens.ZohoTokenError is errors.ZohoTokenError is ZohoError
    assert tokens.ZohoTokenUnavailable is ZohoTokenUnavailable
    assert issubclass(ZohoTokenUnavailable, ZohoUnavailable)


def test_the_token_broker_raises_the_family(account):
    account.refresh_token = ""
    with pytest.raises(ZohoAuthError) as caught:
        tokens.access_token_get(account=account)
    assert caught.value.code == "REAUTH_REQUIRED"
    assert type(crm_error_of(caught.value)) is CrmAuthError


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (tokens.ZohoReauthRequired("revoked"), CrmAuthError, "REAUTH_REQUIRED"),
        (ZohoTokenUnavailable("accounts down", retry_after=30.0), CrmUnavailable, "TOKEN_UNAVAILABLE"),
        (ZohoExportFailed("Zoho failed the job"), CrmRejected, "EXPORT_FAILED"),
        (ZohoExchangeFailed("error", "invalid_code"), CrmAuthError, "EXCHANGE_ERROR"),
        (ZohoExchangeFailed("refused", "private address"), CrmAuthError, "EXCHANGE_REFUSED"),
        (ZohoExchangeFailed("unreachable", "ConnectTimeout"), CrmUnavailable, "EXCHANGE_UNREACHABLE"),
        (ZohoRequestError("gone", status=400, code="RESOURCE_NOT_FOUND"), CrmNotFound, "RESOURCE_NOT_FOUND"),
        (ZohoRequestError("gone", status=404, code="RESOURCE_NOT_FOUND"), CrmNotFound, "RESOURCE_NOT_FOUND"),
    ],
)
def test_the_family_translates_with_its_codes(error, expected, code):
    translated_error = crm_error_of(error)
    assert type(translated_error) is expected
    assert (translated_error.provider, translated_error.code) == ("zoho", code)
    if isinstance(error, ZohoTokenUnavailable):
        assert translated_error.retry_after == 30.0


def test_anything_else_is_a_plain_crm_error():
    assert type(crm_error_of(RuntimeError("boom"))) is CrmError


def test_translated_catches_token_errors_in_calls_and_while_iterating():
    class Provider:
        @translated
        def call(self):
            raise tokens.ZohoReauthRequired("revoked")

        @translated
        def rows(self):
            return self._rows()

        def _rows(self):
            yield 1
            raise ZohoTokenUnavailable("accounts down")

    with pytest.raises(CrmAuthError):
        Provider().call()
    rows = Provider().rows()
    assert next(rows) == 1
    with pytest.raises(CrmUnavailable):
        next(rows)
