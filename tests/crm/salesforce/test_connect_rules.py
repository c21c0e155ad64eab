"""The connect flow's rules without a browser: ids, hosts we send a code or data calls to, the answer's signature,
PKCE, and the connection's state changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
import requests

from django.utils import timezone

from crm.errors import CrmAuthError, CrmUnavailable
from crm.providers.salesforce import hosts, ids, oauth_flow
from crm.providers.salesforce.models import SalesforceConnection
from crm.providers.salesforce.services import (
    connection_for_account,
    connection_limit_block,
    connection_limit_clear,
    connection_needs_reauth,
    connection_token_refreshed,
    connection_usage_record,
)
from sandbox.salesforce import ids as emulator_ids
from studios.models import ProviderAccount


@pytest.mark.parametrize("id15", ["00D5g000004ELhA", "005000000000001", "001A0000006Vm9r", "0035g00000AbCdE"])
def test_a_15_character_id_gains_the_checksum_the_emulator_computes(id15):
    assert ids.id18(id15) == emulator_ids.to18(id15)
    assert ids.id18(ids.id18(id15)) == ids.id18(id15)  # an 18-character id stays as it is
    assert ids.id18("not an id") == "not an id"


def test_the_ids_of_an_identity_url():
    url = "https://login.salesforce.com/id/00D5g000004ELhAEAW/0055g00000ABCDEAA2"
    assert ids.ids_from_identity_url(url) == ("00D5g000004ELhAEAW", "0055g00000ABCDEAA2")
    assert ids.ids_from_identity_url("https://login.salesforce.com/services/oauth2/userinfo") == ("", "")
    assert ids.ids_from_identity_url("") == ("", "")


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://login.salesforce.com", True),
        ("https://test.salesforce.com/", True),
        ("https://acme.my.salesforce.com", True),
        ("https://acme--uat.sandbox.my.salesforce.com", True),
        ("https://my.salesforce.com", False),
        ("https://login.salesforce.com.evil.example", False),
        ("http://login.salesforce.com", False),
        ("https://login.salesforce.com:8443", False),
        ("https://127.0.0.1:8100", False),  # only when an operator set it on the account
    ],
)
def test_where_a_code_and_the_client_secret_may_go(url, trusted):
    account = ProviderAccount(kind="salesforce", accounts_url="https://127.0.0.1:8100")
    assert bool(hosts.login_host_trusted(account, url)) is trusted


def test_an_operator_set_login_host_or_a_listed_one_is_trusted(settings):
    operator_set = ProviderAccount(kind="salesforce", accounts_url="http://127.0.0.1:8100", custom_endpoints=True)
    assert hosts.login_host_trusted(operator_set, "http://127.0.0.1:8100/") == "http://127.0.0.1:8100"
    assert hosts.login_host_trusted(operator_set, "http://127.0.0.1:9999") == ""
    settings.SALESFORCE_LOGIN_SERVERS = ["http://emulator.internal:8100"]
    assert hosts.login_host_trusted(None, "http://emulator.internal:8100") == "http://emulator.internal:8100"


def test_which_instances_data_calls_may_go_to():
    account = ProviderAccount(kind="salesforce", accounts_url="https://login.salesforce.com")
    login = "https://login.salesforce.com"
    check = hosts.instance_url_check
    assert check(account=account, login=login, instance_url="https://acme.my.salesforce.com/") == (
        "https://acme.my.salesforce.com"
    )
    for foreign in ("https://acme.example", "http://acme.my.salesforce.com", "https://my.salesforce.com", ""):
        with pytest.raises(CrmAuthError, match="not a Salesforce instance"):
            check(account=account, login=login, instance_url=foreign)
    # An emulator an operator set up as the login host may name itself, and nothing else.
    emulator = "http://127.0.0.1:8100"
    operator_set = ProviderAccount(kind="salesforce", accounts_url=emulator, custom_endpoints=True)
    assert check(account=operator_set, login=emulator, instance_url=f"{emulator}/") == emulator
    with pytest.raises(CrmAuthError):
        check(account=operator_set, login=emulator, instance_url="http://localhost:8100")


def _signed(identity_url: str, issued_at: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{identity_url}{issued_at}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_the_answer_must_carry_our_clients_signature():
    identity_url = "https://login.salesforce.com/id/00D5g000004ELhAEAW/0055g00000ABCDEAA2"

    def answer(signature: str) -> oauth_flow.TokenAnswer:
        return oauth_flow.TokenAnswer(
            "at", "rt", "https://a.my.salesforce.com", identity_url, "api", "1700000000000", signature
        )

    assert oauth_flow.signature_valid(answer(_signed(identity_url, "1700000000000", "s3cret")), client_secret="s3cret")
    assert not oauth_flow.signature_valid(
        answer(_signed(identity_url, "1700000000000", "other")), client_secret="s3cret"
    )
    assert not oauth_flow.signature_valid(answer("not base64!"), client_secret="s3cret")
    assert oauth_flow.signature_valid(answer(""), client_secret="s3cret")  # optional in Salesforce's answer


def test_pkce_is_derived_from_the_state_and_not_guessable_from_it():
    verifier = oauth_flow.pkce_verifier("state-1")
    assert verifier == oauth_flow.pkce_verifier("state-1") != oauth_flow.pkce_verifier("state-2")
    assert 43 <= len(verifier) <= 128
    assert "state-1" not in verifier
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert oauth_flow.pkce_challenge("state-1") == expected


# --- state changes (services.py) ------------------------------------------------------------------------------------
@pytest.fixture
def account(tenant_a):
    return ProviderAccount.objects.create(
        organization=tenant_a.organization,
        name="acme-sf",
        kind="salesforce",
        client_id="3MVG9x",
        client_secret="secret",
        refresh_token="5Aep861refresh",
        accounts_url="https://login.salesforce.com",
        api_domain="https://acme.my.salesforce.com",
    )


def test_state_changes_of_a_connection(account):
    connection = connection_for_account(account=account)
    assert connection.state == SalesforceConnection.State.CONNECTED  # a stored refresh token
    assert connection.organization_id == account.organization_id

    connection_needs_reauth(account=account, reason="invalid_grant: expired access/refresh token")
    connection.refresh_from_db()
    assert connection.state == SalesforceConnection.State.NEEDS_REAUTH
    assert "invalid_grant" in connection.last_error

    connection_token_refreshed(account=account, instance_url="https://acme2.my.salesforce.com")
    connection.refresh_from_db()
    account.refresh_from_db()
    assert connection.state == SalesforceConnection.State.CONNECTED
    assert connection.last_refreshed_at is not None
    assert account.api_domain == "https://acme2.my.salesforce.com"

    connection_usage_record(account=account, used=81_000, limit=100_000)
    until = timezone.now() + timedelta(hours=1)
    connection_limit_block(account=account, until=until, message="REQUEST_LIMIT_EXCEEDED")
    connection.refresh_from_db()
    assert (connection.api_usage, connection.api_limit) == (81_000, 100_000)
    assert connection.limit_blocked_until == until
    connection_limit_clear(account=account)
    connection.refresh_from_db()
    assert connection.limit_blocked_until is None


def test_a_refresh_never_takes_an_org_another_organization_holds(account, tenant_b):
    holder = ProviderAccount.objects.create(
        organization=tenant_b.organization, name="b-sf", kind="salesforce", client_id="3MVG9y"
    )
    SalesforceConnection.unscoped_objects.create(
        organization=tenant_b.organization, account=holder, state="connected", sf_org_id="00D5g000004ELhAEAW"
    )
    mine = connection_for_account(account=account)
    SalesforceConnection.unscoped_objects.filter(pk=mine.pk).update(
        state="not_connected", sf_org_id="00D5g000004ELhAEAW"
    )
    connection_token_refreshed(account=account)
    mine.refresh_from_db()
    assert mine.state == SalesforceConnection.State.CONNECTED
    assert mine.sf_org_id == ""
    assert "another Leadline organization" in mine.last_error


class _CannedSalesforce(requests.adapters.BaseAdapter):
    """Salesforce's answer to one request, at the transport (the emulator has no Organization object)."""

    def __init__(self, status: int, body: bytes):
        super().__init__()
        self.status, self.body, self.seen = status, body, []

    def send(self, request, **kwargs):
        self.seen.append(request)
        response = requests.Response()
        response.status_code, response._content, response.url = self.status, self.body, request.url
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self):
        pass


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"attributes": {}, "Name": "Acme Fitness", "IsSandbox": true}', {"Name": "Acme Fitness"}),
        (404, b'[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]', {}),
        (200, b"not json", {}),
    ],
)
def test_the_org_name_is_read_when_salesforce_gives_it(status, body, expected):
    http = requests.Session()
    canned = _CannedSalesforce(status, body)
    http.mount("https://", canned)
    org = oauth_flow.organization_read(
        http=http, instance="https://acme.my.salesforce.com", access_token="at", org_id="00D5g000004ELhAEAW"
    )
    assert expected.items() <= org.items()
    sent = canned.seen[0]
    assert sent.url.startswith("https://acme.my.salesforce.com/services/data/v66.0/sobjects/Organization/00D5g")
    assert sent.headers["Authorization"] == "Bearer at"
    assert sent.headers["Sforce-Call-Options"] == "client=leadline"


def _exchange(status: int, body: bytes, **overrides):
    http = requests.Session()
    http.mount("https://", _CannedSalesforce(status, body))
    values = {
        "http": http,
        "login": "https://login.salesforce.com",
        "client_id": "3MVG9x",
        "client_secret": "s3cret",
        "redirect_to": "https://leadline.test/crm/oauth/callback",
        "code": "aPrx-code",
        "state": "state",
        **overrides,
    }
    return oauth_flow.code_exchange(**values)


def test_what_a_code_exchange_makes_of_salesforces_answers():
    identity_url = "https://login.salesforce.com/id/00D5g000004ELhAEAW/0055g00000ABCDEAA2"
    signature = _signed(identity_url, "1700000000000", "s3cret")
    good = (
        f'{{"access_token": "at", "refresh_token": "rt", "instance_url": "https://a.my.salesforce.com", '
        f'"id": "{identity_url}", "issued_at": "1700000000000", "signature": "{signature}", "scope": "api id"}}'
    ).encode()
    answer = _exchange(200, good)
    assert (answer.access_token, answer.refresh_token, answer.scope) == ("at", "rt", "api id")

    with pytest.raises(CrmAuthError, match="valid signature"):
        _exchange(200, good, client_secret="another")
    with pytest.raises(CrmAuthError, match="expired access/refresh token") as refused:
        _exchange(400, b'{"error": "invalid_grant", "error_description": "expired access/refresh token"}')
    assert refused.value.code == "invalid_grant"
    with pytest.raises(CrmAuthError, match="did not answer as a Salesforce login host"):
        _exchange(200, b"<html>a login page</html>")
    with pytest.raises(CrmUnavailable, match="HTTP 503"):
        _exchange(503, b"<html>maintenance</html>")
    with pytest.raises(CrmAuthError, match="no authorization code"):
        _exchange(200, good, code="")


def test_which_login_hosts_are_sandbox_orgs():
    assert hosts.sandbox_login("https://test.salesforce.com")
    assert hosts.sandbox_login("https://acme--uat.sandbox.my.salesforce.com")
    assert not hosts.sandbox_login("https://login.salesforce.com")
    assert not hosts.sandbox_login("https://acme.my.salesforce.com")
