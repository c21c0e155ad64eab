"""Sessions: an anonymous "Sign in with Zoho" start writes none, expired ones are cleaned up on a schedule, and a
session that can reach the admin ends after SESSION_IDLE_TIMEOUT without a request."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.middleware import SESSION_LAST_SEEN
from identity.tasks import sessions_expired_delete_task
from tests.identity.conftest import callback, consent, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def sign_in_configured(settings):
    settings.ZOHO_SIGNIN_CLIENT_ID = "1000.CLIENT"
    settings.ZOHO_SIGNIN_CLIENT_SECRET = "client-secret"
    settings.ZOHO_SIGNIN_ACCOUNTS_URL = "https://accounts.zoho.example"


def test_anonymous_sign_in_starts_write_no_session_rows(sign_in_configured):
    before = Session.objects.count()
    for mode in ["widget", "page"] * 25:
        response = Client().get(reverse("signin:first-start", args=["zoho"]), {"mode": mode})
        assert response.status_code == 302
        assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert Session.objects.count() == before


def test_the_start_cookie_is_signed_http_only_and_lax(sign_in_configured):
    response = Client().get(reverse("signin:first-start", args=["zoho"]), {"mode": "widget"})
    cookie = response.cookies["leadline_sign_in"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"  # the start (/auth/...) and the callback (/crm/oauth/callback) both read it


def test_a_forged_nonce_cookie_is_ignored(zoho, tenant_a):
    browser = Client()
    location = consent(start(Client(), mode="widget"), _sandbox_user=zoho.staff["id"])  # another browser's start
    browser.cookies["leadline_sign_in"] = "forged-nonce"  # not signed by us
    assert callback(browser, location).status_code == 400
    assert Session.objects.count() == 0


def test_a_session_is_made_only_when_the_callback_succeeds(zoho, tenant_a):
    browser = Client()
    location = consent(start(browser, mode="widget"), _sandbox_user=zoho.staff["id"])
    assert Session.objects.count() == 0
    assert callback(browser, location).status_code == 302
    assert Session.objects.count() == 1


# --- cleanup -----------------------------------------------------------------------------------------------------
def test_session_cleanup_is_scheduled_and_deletes_expired_sessions(tenant_a):
    entry = django_settings.CELERY_BEAT_SCHEDULE["sessions-expired"]
    assert entry["task"] == "accounts.tasks.sessions_expired_delete_task"  # the name it had before the move
    browser = Client()
    browser.force_login(tenant_a.staff.user)
    live_key = browser.session.session_key
    Session.objects.create(session_key="x" * 32, session_data="", expire_date=timezone.now() - timedelta(days=1))
    sessions_expired_delete_task()
    assert list(Session.objects.values_list("session_key", flat=True)) == [live_key]


# --- idle timeout ------------------------------------------------------------------------------------------------
def idle_for(browser: Client, seconds: int) -> None:
    session = browser.session
    session[SESSION_LAST_SEEN] = int(time.time()) - seconds
    session.save()


@pytest.mark.parametrize("who", ["manager", "operator"])
def test_an_admin_session_ends_after_the_idle_timeout(tenant_a, operator, who, settings):
    settings.SESSION_IDLE_TIMEOUT = 1800
    user = tenant_a.manager.user if who == "manager" else operator
    browser = Client()
    browser.force_login(user)
    assert browser.get(reverse("admin:index")).status_code == 200
    idle_for(browser, 1700)
    assert browser.get(reverse("admin:index")).status_code == 200  # still within the timeout: and it is renewed
    assert int(time.time()) - browser.session[SESSION_LAST_SEEN] < 5
    idle_for(browser, 1801)
    response = browser.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert "_auth_user_id" not in browser.session
    assert browser.get(reverse("admin:index")).status_code == 302  # signed out for good


def test_a_staff_members_session_keeps_djangos_lifetime(tenant_a, settings):
    settings.SESSION_IDLE_TIMEOUT = 1800
    browser = Client()
    browser.force_login(tenant_a.staff.user)
    idle_for(browser, 7200)
    assert browser.get("/api/v1/conversations/").status_code == 200


def test_the_idle_timeout_can_be_switched_off(tenant_a, settings):
    settings.SESSION_IDLE_TIMEOUT = 0
    browser = Client()
    browser.force_login(tenant_a.manager.user)
    idle_for(browser, 10 * 24 * 3600)
    assert browser.get(reverse("admin:index")).status_code == 200


def test_a_session_signed_in_before_identity_moved_stays_signed_in(tenant_a):
    """Sessions made before sign-in moved to identity/ name accounts.backends.MemberBackend: still signed in."""
    browser = Client()
    browser.force_login(tenant_a.staff.user)
    session = browser.session
    session["_auth_user_backend"] = "accounts.backends.MemberBackend"
    session.save()
    assert browser.get("/api/v1/conversations/").status_code == 200
    assert browser.session["_auth_user_backend"] == "identity.backends.MemberBackend"


def test_a_session_naming_an_unknown_backend_is_still_signed_out(tenant_a):
    browser = Client()
    browser.force_login(tenant_a.staff.user)
    session = browser.session
    session["_auth_user_backend"] = "somewhere.else.Backend"
    session.save()
    assert browser.get("/api/v1/conversations/").status_code in (401, 403)
