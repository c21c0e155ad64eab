"""Sign-in through Zoho end to end: our CRM-agnostic views, the sandbox's Zoho Accounts and CRM over real HTTP, the
widget API; the first sign-in's URLs (/auth/zoho/...) answer as before."""

from __future__ import annotations

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.errors import CrmAuthError
from crm.providers.zoho import sign_in as zoho_sign_in
from identity import views
from identity.models import WidgetToken
from identity.tokens import token_digest
from sandbox import worlds
from studios.models import Membership
from studios.services import member_crm_user_set
from tests.crm.zoho.conftest import control
from tests.identity.conftest import callback, consent, page_data, sign_in, start, widget_token
from tests.messaging.factories import ConversationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_widget_sign_in_posts_a_token_that_reads_only_the_members_data(zoho, tenant_a, tenant_b, settings):
    mine = ConversationFactory(studio=tenant_a.studio)
    other_studio = ConversationFactory(studio=tenant_a.other_studio)
    other_org = ConversationFactory(studio=tenant_b.studio)
    popup = Client()

    authorize = start(popup)
    assert authorize.startswith(f"{zoho.sandbox.url}/oauth/v2/auth?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["ZohoCRM.users.READ,ZohoCRM.org.READ"]
    assert query["access_type"] == ["online"]
    done = callback(popup, consent(authorize, _sandbox_user=zoho.staff["id"]))
    assert done.status_code == 302
    assert done.url == reverse("signin:crm-done", args=["zoho"]) == "/auth/crm/zoho/done"
    assert done["Cross-Origin-Opener-Policy"] == "unsafe-none"  # the popup keeps window.opener

    page = popup.get(done.url)
    assert page.status_code == 200
    data = page_data(page)
    assert data["outcome"] == "signed_in"
    assert data["mode"] == "widget"
    assert data["target-origin"] == settings.PUBLIC_BASE_URL
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "no-store" in page["Cache-Control"]
    body = page.content.decode()
    assert '<script src="/static/identity/sign-in.js"></script>' in body
    assert "<script>" not in body  # no inline script
    token = data["token"]
    row = WidgetToken.objects.unscoped().get()
    assert row.membership == tenant_a.staff
    assert row.token_hash == token_digest(token)
    assert token not in row.token_hash  # only the digest is stored
    lifetime = row.expires_at - timezone.now()
    assert timedelta(hours=7, minutes=59) < lifetime <= timedelta(hours=8)
    assert data["expires-at"] == row.expires_at.isoformat()
    # Zoho's token is not kept: online access, so the sandbox minted no refresh token for the sign-in client.
    assert not any(
        r.client_id == zoho.org["client_id"] and r.user_id == zoho.staff["id"]
        for r in zoho.sandbox.state.accounts.refresh_tokens.values()
    )

    widget = Client()  # no cookies at all: the iframe
    listed = widget.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert listed.status_code == 200, listed.content
    ids = {item["id"] for item in listed.json()["results"]}
    assert mine.pk in ids
    assert other_studio.pk not in ids
    assert other_org.pk not in ids
    assert widget.get(f"/api/v1/conversations/{other_org.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404

    assert popup.get(done.url).status_code == 400  # shown once: a reload issues nothing
    assert WidgetToken.objects.unscoped().count() == 1


def test_full_page_sign_in_ends_in_a_session_cookie_and_the_app(zoho, tenant_a):
    browser = Client()
    response = callback(browser, consent(start(browser, mode=None), _sandbox_user=zoho.staff["id"]))
    assert response.status_code == 302
    assert response.url == "/app/"
    assert int(browser.session["_auth_user_id"]) == tenant_a.staff.user.pk
    assert not WidgetToken.objects.unscoped().exists()
    assert browser.get("/api/v1/conversations/").status_code == 200


def test_an_unknown_user_is_told_to_ask_their_manager(zoho, tenant_a):
    page = sign_in(Client(), zoho.admin["id"])  # Alex is in the Zoho org, but no member has Alex's id
    assert page.status_code == 403
    assert page_data(page)["outcome"] == "unknown_user"
    body = page.content.decode()
    assert "Ask your manager to add you" in body
    assert zoho.admin["email"] in body
    assert zoho.admin["id"] in body
    assert "Acme Zoho" in body
    assert tenant_a.organization.name in body
    assert not WidgetToken.objects.unscoped().exists()


def test_a_deactivated_member_gets_no_token(zoho, tenant_a):
    tenant_a.staff.is_active = False
    tenant_a.staff.save()
    page = sign_in(Client(), zoho.staff["id"])
    assert page.status_code == 403
    assert page_data(page)["outcome"] == "unknown_user"
    assert "switched off" in page.content.decode()
    assert not WidgetToken.objects.unscoped().exists()


def test_a_user_of_another_zoho_org_is_refused(zoho, tenant_a, tenant_b):
    other = control(zoho.sandbox, "POST", "zoho/orgs", {"name": "Bolt Zoho"})
    # Even with the same CRM user id as A's member, B's Zoho org is not A's connected org.
    member_crm_user_set(membership=tenant_b.staff, connection=tenant_b.zoho, crm_user_id=other["users"][1]["id"])
    page = sign_in(Client(), other["users"][1]["id"])
    assert page.status_code == 403
    data = page_data(page)
    assert data["outcome"] == "refused"
    assert data["reason"] == "org_not_connected"
    assert "Bolt Zoho" in page.content.decode()
    assert not WidgetToken.objects.unscoped().exists()


def test_a_forged_or_replayed_state_is_refused(zoho):
    popup = Client()
    location = consent(start(popup), _sandbox_user=zoho.staff["id"])
    forged = location.replace("state=", "state=x")
    assert callback(popup, forged).status_code == 400
    stranger = Client()  # a callback carried into another browser (login CSRF)
    assert callback(stranger, location).status_code == 400
    assert callback(popup, location).status_code == 302  # the genuine one still works, once
    assert callback(popup, location).status_code == 400
    assert WidgetToken.objects.unscoped().count() == 0  # the token is made on the last page only


def test_a_forged_accounts_server_never_receives_our_secret(zoho):
    popup = Client()
    location = consent(start(popup), _sandbox_user=zoho.staff["id"])
    evil = location.replace("accounts-server=", "accounts-server=https%3A%2F%2Fevil.example&x=")
    page = popup.get(callback(popup, evil).url)
    assert page_data(page)["reason"] == "bad_accounts_server"


def test_zoho_rejecting_consent_is_shown(zoho):
    popup = Client()
    response = callback(popup, consent(start(popup), _sandbox_deny="1"))
    page = popup.get(response.url)
    assert page.status_code == 403
    assert page_data(page)["outcome"] == "refused"
    assert "access_denied" in page.content.decode()


def test_start_refuses_when_no_sign_in_client_is_configured(settings):
    settings.ZOHO_SIGNIN_CLIENT_ID = ""
    for url in (reverse("signin:crm-start", args=["zoho"]), reverse("signin:first-start", args=["zoho"])):
        response = Client().get(url, {"mode": "widget"})
        assert response.status_code == 400
        assert page_data(response)["reason"] == "not_configured"


def test_sign_in_token_works_without_cookies_and_sign_out_revokes_it(zoho, tenant_a):
    token = widget_token(Client(), zoho.staff["id"])
    widget = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert widget.get("/api/v1/conversations/", **auth).status_code == 200
    assert widget.post(reverse("signin:sign-out"), **auth).status_code == 204
    refused = widget.get("/api/v1/conversations/", **auth)
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")


def test_a_refresh_token_zoho_hands_out_anyway_is_revoked_at_once(zoho, monkeypatch):
    monkeypatch.setattr(zoho_sign_in, "ACCESS_TYPE", "offline")  # makes the sandbox issue one
    assert widget_token(Client(), zoho.staff["id"])
    issued = [
        refresh
        for refresh in zoho.sandbox.state.accounts.refresh_tokens.values()
        if refresh.client_id == zoho.org["client_id"] and refresh.user_id == zoho.staff["id"]
    ]
    assert len(issued) == 1
    assert issued[0].revoked


def test_the_demo_staff_sign_in_with_zoho_as_in_make_run(settings, sandbox):
    """`make run`: the demo command records the sandbox's demo Zoho org, whose client takes our callback."""
    settings.SANDBOX_URL = sandbox.url
    settings.ZOHO_SIGNIN_CLIENT_ID = worlds.DEMO_CLIENT_ID
    settings.ZOHO_SIGNIN_CLIENT_SECRET = worlds.DEMO_CLIENT_SECRET
    settings.ZOHO_SIGNIN_ACCOUNTS_URL = sandbox.url
    settings.ZOHO_SIGNIN_REDIRECT_URI = "http://127.0.0.1:8000/auth/zoho/callback"
    call_command("demo", "--allow-production", stdout=io.StringIO())
    ana = worlds.DEMO_USERS[1]
    token = widget_token(Client(), ana["id"])
    row = WidgetToken.objects.unscoped().get(token_hash=token_digest(token))
    assert row.membership == Membership.objects.unscoped().get(user__email=ana["email"])


def test_the_first_sign_in_urls_answer_as_before(zoho, tenant_a):
    """/auth/zoho/start, /auth/zoho/callback and /auth/zoho/done are in installed widgets and Zoho's console."""
    popup = Client()
    authorize = start(popup, url="/auth/zoho/start")
    done = callback(popup, consent(authorize, _sandbox_user=zoho.staff["id"]), url="/auth/zoho/callback")
    assert done.status_code == 302
    session_outcome = popup.session[views.SESSION_OUTCOME]
    assert session_outcome["outcome"] == "signed_in"
    page = popup.get("/auth/zoho/done")
    assert page.status_code == 200
    assert page_data(page)["outcome"] == "signed_in"


def test_the_one_oauth_callback_finishes_a_sign_in(zoho, tenant_a):
    popup = Client()
    location = consent(start(popup), _sandbox_user=zoho.staff["id"])
    page = popup.get(callback(popup, location, url="/crm/oauth/callback").url)
    assert page_data(page)["outcome"] == "signed_in"
    assert WidgetToken.objects.unscoped().get().membership == tenant_a.staff


def test_a_sign_in_state_is_no_connect_and_a_connect_state_no_sign_in(zoho, tenant_a, client):
    """The state says which flow it is: a sign-in's state cannot finish a connect, nor the other way round."""
    from crm.providers.zoho import oauth

    popup = Client()
    location = consent(start(popup), _sandbox_user=zoho.staff["id"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    client.force_login(tenant_a.manager.user)
    client.cookies.update(popup.cookies)
    response = client.get("/zoho/oauth/callback/", query)  # the connect flow's own view refuses it
    assert response.status_code == 302
    assert not WidgetToken.objects.unscoped().exists()
    session = client.session
    connect_url = oauth.connect_start(account=tenant_a.zoho, session=session)
    session.save()
    connect_state = parse_qs(urlsplit(connect_url).query)["state"][0]
    with pytest.raises(CrmAuthError):
        zoho_sign_in.ZohoSignIn.sign_in_finish(params={"state": connect_state, "code": "x"}, session=dict(session))


def test_an_unknown_crm_has_no_sign_in():
    assert Client().get("/auth/crm/nocrm/start").status_code == 404
    assert Client().get("/auth/crm/zoho_crm/start").status_code == 404  # a connection kind, not a CRM kind
