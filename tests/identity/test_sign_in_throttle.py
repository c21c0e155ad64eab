"""Failed sign-ins are throttled per account and per client address on every way in: the staff login, the admin
login and the widget's bearer tokens. A locked attempt is refused before any credential is checked."""

from __future__ import annotations

import pytest

from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from identity.models import WidgetToken
from identity.throttle import SignInThrottled
from identity.tokens import widget_token_issue
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed sign-ins; try again in 15 minutes."
LOGINS = [pytest.param("accounts:login", id="staff-login"), pytest.param("admin:login", id="admin-login")]
API = "/api/v1/conversations/"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.ACCOUNTS_SIGN_IN_FAILURES_PER_ACCOUNT = 5
    settings.ACCOUNTS_SIGN_IN_FAILURES_PER_ADDRESS = 20
    settings.ACCOUNTS_SIGN_IN_WINDOW_SECONDS = 15 * 60


def post_login(url_name: str, email: str, password: str, address: str = "198.51.100.7", **extra: str):
    return Client(REMOTE_ADDR=address, **extra).post(reverse(url_name), {"username": email, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302


@pytest.fixture
def hashes(monkeypatch) -> list[str]:
    """Every password hash computed (the test settings hash with MD5)."""
    calls: list[str] = []
    original = MD5PasswordHasher.encode

    def counting(self, password, salt):
        calls.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return calls


@pytest.mark.parametrize("url_name", LOGINS)
def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(tenant_a, url_name, hashes):
    email = tenant_a.manager.user.email
    for attempt in range(5):
        response = post_login(url_name, email, f"wrong-{attempt}", address=f"198.51.100.{attempt + 1}")
        assert response.status_code == 200
        assert LOCKED not in response.content.decode()
    hashes.clear()
    response = post_login(url_name, email, TEST_PASSWORD, address="203.0.113.9")  # another address, right password
    assert response.status_code == 200
    assert LOCKED in response.content.decode()
    assert hashes == []  # refused without looking at the password
    # The e-mail's case does not buy new attempts.
    assert LOCKED in post_login(url_name, email.upper(), TEST_PASSWORD).content.decode()


@pytest.mark.parametrize("url_name", LOGINS)
def test_an_unknown_account_is_locked_the_same_way(tenant_a, url_name, hashes):
    for attempt in range(5):
        post_login(url_name, "nobody@acme.test", f"wrong-{attempt}")
    hashes.clear()
    response = post_login(url_name, "nobody@acme.test", "anything")
    assert LOCKED in response.content.decode()
    assert hashes == []


@pytest.mark.parametrize("url_name", LOGINS)
def test_twenty_failures_from_one_address_lock_the_address_for_every_account(tenant_a, url_name):
    for attempt in range(20):
        post_login(url_name, f"guess{attempt}@acme.test", "wrong", address="192.0.2.50")
    response = post_login(url_name, tenant_a.manager.user.email, TEST_PASSWORD, address="192.0.2.50")
    assert LOCKED in response.content.decode()
    assert signed_in(post_login(url_name, tenant_a.manager.user.email, TEST_PASSWORD, address="192.0.2.51"))


def test_a_forged_forwarded_for_header_does_not_escape_the_address_lock(tenant_a):
    for attempt in range(20):
        post_login("accounts:login", f"guess{attempt}@acme.test", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.8.{attempt}")
    response = post_login(
        "accounts:login", tenant_a.staff.user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="10.250.250.250"
    )
    assert LOCKED in response.content.decode()


def test_a_success_clears_the_accounts_failures(tenant_a):
    email = tenant_a.staff.user.email
    for _round in range(3):
        for attempt in range(4):
            post_login("accounts:login", email, f"wrong-{attempt}", address=f"198.51.100.{_round * 10 + attempt}")
        assert signed_in(post_login("accounts:login", email, TEST_PASSWORD, address="203.0.113.1"))


def test_the_lock_says_how_long_and_ends_with_its_window(tenant_a, settings):
    settings.ACCOUNTS_SIGN_IN_FAILURES_PER_ACCOUNT = 2
    settings.ACCOUNTS_SIGN_IN_WINDOW_SECONDS = 60
    email = tenant_a.staff.user.email
    post_login("accounts:login", email, "wrong")
    post_login("accounts:login", email, "wrong")
    assert (
        "Too many failed sign-ins; try again in 1 minute."
        in post_login("accounts:login", email, TEST_PASSWORD).content.decode()
    )


def test_client_login_without_a_request_is_throttled_by_account(tenant_a):
    for _attempt in range(5):
        assert Client().login(username=tenant_a.staff.user.email, password="wrong") is False
    with pytest.raises(SignInThrottled):
        Client().login(username=tenant_a.staff.user.email, password=TEST_PASSWORD)


# --- the widget's bearer tokens --------------------------------------------------------------------------------
def bearer(token: str, address: str = "198.51.100.77") -> Client:
    return Client(REMOTE_ADDR=address, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_twenty_bad_widget_tokens_lock_the_address_even_for_a_good_token(tenant_a):
    good, _ = widget_token_issue(membership=tenant_a.staff)
    for attempt in range(20):
        assert bearer(f"llw_not-a-real-token-{attempt:04d}").get(API).status_code == 401
    with CaptureQueriesContext(connection) as queries:
        refused = bearer(good).get(API)
    assert not [q for q in queries.captured_queries if WidgetToken._meta.db_table in q["sql"]]  # not even looked up
    assert refused.status_code == 429
    assert refused.json()["message"] == LOCKED
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert bearer(good, address="198.51.100.78").get(API).status_code == 200


def test_bad_widget_tokens_and_wrong_passwords_are_counted_apart(tenant_a):
    good, _ = widget_token_issue(membership=tenant_a.staff)
    for attempt in range(20):
        post_login("accounts:login", f"guess{attempt}@acme.test", "wrong", address="198.51.100.77")
    assert bearer(good).get(API).status_code == 200
