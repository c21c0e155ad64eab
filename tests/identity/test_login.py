"""The plain sign-in outside Zoho, and the admin's own login still working beside it."""

from __future__ import annotations

import pytest

from django.test import Client
from django.urls import reverse

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_plain_login_sets_the_session_and_goes_to_the_app(tenant_a):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert reverse("signin:crm-start", args=["zoho"]) in page.content.decode()  # every CRM that signs people in
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(
        reverse("accounts:login"),
        {"username": tenant_a.staff.user.email, "password": TEST_PASSWORD, "csrfmiddlewaretoken": csrf},
    )
    assert response.status_code == 302
    assert response.url == "/app/"
    assert int(browser.session["_auth_user_id"]) == tenant_a.staff.user.pk
    assert browser.get("/api/v1/conversations/").status_code == 200


def test_a_wrong_password_is_refused(tenant_a):
    response = Client().post(reverse("accounts:login"), {"username": tenant_a.staff.user.email, "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in Client().session


def test_logout_is_a_post(tenant_a):
    browser = Client()
    browser.force_login(tenant_a.staff.user)
    assert browser.get(reverse("accounts:logout")).status_code == 405
    response = browser.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert "_auth_user_id" not in browser.session


def test_login_required_pages_send_people_to_our_login_and_the_admin_keeps_its_own(tenant_a):
    admin_index = Client().get(reverse("admin:index"))
    assert admin_index.url.startswith(reverse("admin:login"))
    response = Client().post(
        reverse("admin:login"), {"username": tenant_a.manager.user.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302  # managers still sign in to the admin
