"""The HubSpot token broker: both token answer shapes, the proactive refresh at expires_in minus the margin, one
refresh across processes, a refused refresh token (the connection needs a person), the endpoint down (a short
shared cool-down)."""

from __future__ import annotations

import time

import pytest
import requests

from django.core.cache import cache

from crm.errors import CrmAuthError
from crm.providers.hubspot import tokens
from crm.providers.hubspot.errors import HubSpotAuthError, HubSpotUnavailable, translate
from crm.providers.hubspot.tokens import TokenAnswer
from tests.crm.hubspot.test_client_fakes import (  # noqa: F401 (fixtures)
    API,
    answer,
    clean_cache_fixture,
    fake_fixture,
    hs_account_fixture,
)

pytestmark = pytest.mark.django_db


def test_both_answer_shapes_are_read():
    snake = TokenAnswer.parse(
        {"access_token": "a", "refresh_token": "r", "expires_in": 1800, "token_type": "bearer", "hub_id": 62515}
    )
    camel = TokenAnswer.parse(
        {
            "accessToken": "a",
            "refreshToken": "r",
            "expiresIn": 1800,
            "hubId": 62515,
            "userId": 77,
            "scopes": ["oauth", "crm.objects.contacts.read"],
            "tokenType": "bearer",
            "idToken": "jwt",
        }
    )
    assert (snake.access_token, snake.refresh_token, snake.expires_in, snake.hub_id) == ("a", "r", 1800, "62515")
    assert (camel.access_token, camel.refresh_token, camel.expires_in, camel.hub_id) == ("a", "r", 1800, "62515")
    assert camel.user_id == "77"
    assert camel.scopes == ("oauth", "crm.objects.contacts.read")
    assert camel.id_token == "jwt"
    assert TokenAnswer.parse({"access_token": "a", "scope": "oauth crm.x"}).scopes == ("oauth", "crm.x")


def test_the_token_endpoint_follows_the_setting(hs_account, settings):
    assert tokens.token_endpoint(hs_account) == f"{API}/oauth/v1/token"
    settings.HUBSPOT_TOKEN_PATH = "/oauth/2026-03/token"
    assert tokens.token_endpoint(hs_account) == f"{API}/oauth/2026-03/token"


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "at-x", "refresh_token": "rt-1", "expires_in": 1800},
        {"accessToken": "at-x", "refreshToken": "rt-1", "expiresIn": 1800, "hubId": 62515, "tokenType": "bearer"},
    ],
)
def test_a_refresh_takes_either_shape(hs_account, fake, body):
    fake.token_answers.append(answer(200, body))
    token = tokens.access_token_get(account=hs_account)
    assert token.token == "at-x"
    assert 1790 < token.expires_at - time.time() <= 1800
    assert tokens.access_token_get(account=hs_account).token == "at-x"  # cached: one refresh
    assert len(fake.token_calls) == 1


@pytest.fixture
def cache_timeouts(monkeypatch) -> dict[str, int]:
    """The timeout each cache key was last set with."""
    seen: dict[str, int] = {}
    real_set = cache.set

    def recording_set(key, value, timeout=None, **kwargs):
        seen[key] = timeout
        return real_set(key, value, timeout=timeout, **kwargs)

    monkeypatch.setattr(tokens.cache, "set", recording_set)
    return seen


def test_the_token_is_refreshed_ahead_of_its_expiry(hs_account, fake, settings, cache_timeouts):
    settings.HUBSPOT_TOKEN_REFRESH_MARGIN_SECONDS = 300
    tokens.access_token_get(account=hs_account)
    # 1,800 s minus the 300 s margin: gone from the cache before HubSpot ends it.
    assert cache_timeouts[f"hubspot:token:{hs_account.pk}:access"] == 1500
    cache.delete(f"hubspot:token:{hs_account.pk}:access")  # the margin has come
    assert tokens.access_token_get(account=hs_account).token == "at-2"


def test_a_short_lived_token_is_still_kept_briefly(hs_account, fake, settings, cache_timeouts):
    settings.HUBSPOT_TOKEN_REFRESH_MARGIN_SECONDS = 300
    fake.expires_in = 200
    tokens.access_token_get(account=hs_account)
    assert cache_timeouts[f"hubspot:token:{hs_account.pk}:access"] == 30


def test_invalidate_drops_only_the_token_refused(hs_account, fake):
    first = tokens.access_token_get(account=hs_account)
    tokens.access_token_invalidate(account=hs_account, token="someone-elses")
    assert tokens.access_token_peek(account=hs_account) == first
    tokens.access_token_invalidate(account=hs_account, token=first.token)
    assert tokens.access_token_peek(account=hs_account) is None


def test_a_waiter_takes_the_holders_token(hs_account, fake):
    """Another process holds the refresh lock: we wait for its token instead of refreshing too."""
    lock = f"hubspot:token:{hs_account.pk}:lock"
    cache.add(lock, "other-process", timeout=30)
    tokens.token_answer_apply(account=hs_account, body={"access_token": "theirs", "expires_in": 1800})
    assert tokens.access_token_get(account=hs_account).token == "theirs"
    assert fake.token_calls == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_grant", "error_description": "refresh token is invalid"}),
        (400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}),
        (401, {"status": "error", "message": "app uninstalled"}),
    ],
)
def test_a_refused_refresh_token_needs_a_person(hs_account, fake, status, body):
    from crm.providers.hubspot.models import HubSpotConnection

    fake.token_answers.append(answer(status, body))
    with pytest.raises(HubSpotAuthError) as caught:
        tokens.access_token_get(account=hs_account)
    assert isinstance(translate(caught.value), CrmAuthError)
    connection = HubSpotConnection.unscoped_objects.get(account=hs_account)
    assert connection.state == "needs_reauth"
    assert "reconnect HubSpot" in connection.last_error
    # Remembered: no second call with a token HubSpot refused.
    with pytest.raises(HubSpotAuthError):
        tokens.access_token_get(account=hs_account)
    assert len(fake.token_calls) == 1


def test_the_endpoint_down_cools_down_for_everyone(hs_account, fake):
    fake.token_answers.extend([answer(503, {"status": "error", "message": "down"})])
    with pytest.raises(HubSpotUnavailable) as first:
        tokens.access_token_get(account=hs_account)
    assert first.value.retry_after > 0
    with pytest.raises(HubSpotUnavailable):
        tokens.access_token_get(account=hs_account)
    assert len(fake.token_calls) == 1


def test_the_endpoint_unreachable_is_unavailable(hs_account, fake):
    fake.token_answers.append(requests.ConnectTimeout("no route"))
    with pytest.raises(HubSpotUnavailable):
        tokens.access_token_get(account=hs_account)


def test_a_successful_refresh_marks_the_connection_healthy(hs_account, fake):
    from crm.providers.hubspot.models import HubSpotConnection

    HubSpotConnection.unscoped_objects.create(
        organization=hs_account.organization, account=hs_account, state="error", last_error="x"
    )
    tokens.access_token_get(account=hs_account)
    connection = HubSpotConnection.unscoped_objects.get(account=hs_account)
    assert connection.state == "connected"
    assert connection.last_refreshed_at is not None


def test_the_accounts_own_app_or_the_servers(hs_account, fake, settings):
    from crm.providers.hubspot.hosts import app_credentials

    assert app_credentials(hs_account) == ("client-1", "secret-1")
    settings.HUBSPOT_CLIENT_ID = "server-app"
    settings.HUBSPOT_CLIENT_SECRET = "server-secret"
    hs_account.client_id = ""
    assert app_credentials(hs_account) == ("server-app", "server-secret")


def test_an_account_without_a_refresh_token_is_not_connected(hs_account):
    hs_account.refresh_token = ""
    with pytest.raises(HubSpotAuthError, match="not connected"):
        tokens.access_token_get(account=hs_account)


@pytest.mark.django_db(transaction=True)
def test_twenty_workers_at_once_make_one_refresh(hs_account, fake, monkeypatch):
    """Every worker finds no token at once: one refreshes under the lock, the others take its token."""
    import threading

    from django.db import connections

    real_post = fake.post

    def slow_post(url, **kwargs):
        time.sleep(0.2)  # the refresh takes a while: everyone else arrives meanwhile
        return real_post(url, **kwargs)

    monkeypatch.setattr(fake, "post", slow_post)
    got: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            got.append(tokens.access_token_get(account=hs_account).token)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert got == ["at-1"] * 20
    assert len(fake.token_calls) == 1
