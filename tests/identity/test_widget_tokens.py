"""Widget tokens: expiry, revocation, deactivation, tenancy, and CSRF (none for bearer, still for cookies)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from identity.models import WidgetToken
from identity.tokens import widget_token_issue, widget_token_resolve
from tests.messaging.factories import ConversationFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_token_reads_its_members_data(tenant_a):
    ConversationFactory(studio=tenant_a.studio)
    token, _ = widget_token_issue(membership=tenant_a.staff)
    response = Client().get(LIST, **bearer(token))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_an_expired_token_is_refused(tenant_a):
    token, row = widget_token_issue(membership=tenant_a.staff)
    WidgetToken.objects.unscoped().filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(LIST, **bearer(token))
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_lifetime_follows_the_setting(tenant_a, settings):
    settings.ACCOUNTS_WIDGET_TOKEN_SECONDS = 60
    _, row = widget_token_issue(membership=tenant_a.staff)
    assert row.expires_at - row.created_at <= timedelta(seconds=61)


def test_a_revoked_token_is_refused(tenant_a):
    token, row = widget_token_issue(membership=tenant_a.staff)
    row.revoked_at = timezone.now()
    row.save()
    assert Client().get(LIST, **bearer(token)).status_code == 401


def test_deactivating_the_member_or_user_or_organization_refuses_the_token_at_once(tenant_a):
    token, _ = widget_token_issue(membership=tenant_a.staff)
    assert Client().get(LIST, **bearer(token)).status_code == 200
    for obj in (tenant_a.staff, tenant_a.staff.user, tenant_a.organization):
        obj.is_active = False
        obj.save()
        assert Client().get(LIST, **bearer(token)).status_code == 401
        obj.is_active = True
        obj.save()
    assert Client().get(LIST, **bearer(token)).status_code == 200


def test_a_garbled_or_unknown_token_is_refused(tenant_a):
    widget_token_issue(membership=tenant_a.staff)
    for header in ("Bearer llw_nope", "Bearer", "Bearer a b", "Bearer not-ours"):
        assert Client().get(LIST, HTTP_AUTHORIZATION=header).status_code == 401


def test_a_token_of_organization_a_cannot_read_organization_b(tenant_a, tenant_b):
    theirs = ConversationFactory(studio=tenant_b.studio)
    for member in (tenant_a.staff, tenant_a.manager):
        token, _ = widget_token_issue(membership=member)
        assert Client().get(f"{LIST}{theirs.pk}/", **bearer(token)).status_code == 404
        assert theirs.pk not in {c["id"] for c in Client().get(LIST, **bearer(token)).json()["results"]}


def test_a_token_row_is_bound_to_its_organization(tenant_a, tenant_b):
    token, row = widget_token_issue(membership=tenant_a.staff)
    WidgetToken.objects.unscoped().filter(pk=row.pk).update(organization=tenant_b.organization)
    assert widget_token_resolve(token=token) is None


def test_bearer_posts_need_no_csrf_but_cookie_sessions_still_do(tenant_a):
    conversation = ConversationFactory(studio=tenant_a.studio, unread_count=1)
    url = f"{LIST}{conversation.pk}/read/"
    token, _ = widget_token_issue(membership=tenant_a.staff)
    assert Client(enforce_csrf_checks=True).post(url, **bearer(token)).status_code in (200, 204)

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(tenant_a.staff.user)
    refused = browser.post(url)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]


def test_sign_out_with_a_cookie_session_needs_csrf_and_logs_out(tenant_a):
    browser = Client(enforce_csrf_checks=True)
    browser.get(reverse("accounts:login"))  # sets the CSRF cookie
    browser.force_login(tenant_a.staff.user)
    assert browser.post(reverse("signin:sign-out")).status_code == 403
    csrf = browser.cookies["csrftoken"].value
    assert browser.post(reverse("signin:sign-out"), HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert "_auth_user_id" not in browser.session


def test_sign_out_without_credentials_is_a_401():
    assert Client().post(reverse("signin:sign-out")).status_code == 401


def test_staff_see_only_their_own_sessions(tenant_a):
    widget_token_issue(membership=tenant_a.staff)
    widget_token_issue(membership=tenant_a.manager)
    assert WidgetToken.objects.visible_to(tenant_a.staff).count() == 1
    assert WidgetToken.objects.visible_to(tenant_a.manager).count() == 2


def test_the_hourly_task_deletes_every_organizations_dead_tokens_and_keeps_live_ones(tenant_a, tenant_b, settings):
    from identity.tasks import widget_tokens_expired_delete_task

    assert settings.CELERY_BEAT_SCHEDULE["widget-tokens-expired"]["task"] == widget_tokens_expired_delete_task.name
    now = timezone.now()
    live_token, live = widget_token_issue(membership=tenant_a.staff)
    _, just_expired = widget_token_issue(membership=tenant_a.staff)  # kept a day: it still answers "expired"
    WidgetToken.objects.unscoped().filter(pk=just_expired.pk).update(expires_at=now - timedelta(hours=1))
    doomed = []
    for member in (tenant_a.manager, tenant_b.manager):
        _, old = widget_token_issue(membership=member)
        _, revoked = widget_token_issue(membership=member)
        WidgetToken.objects.unscoped().filter(pk=old.pk).update(expires_at=now - timedelta(days=2))
        WidgetToken.objects.unscoped().filter(pk=revoked.pk).update(revoked_at=now - timedelta(days=2))
        doomed += [old.pk, revoked.pk]
    assert widget_tokens_expired_delete_task() == 4
    remaining = set(WidgetToken.objects.unscoped().values_list("pk", flat=True))
    assert remaining == {live.pk, just_expired.pk}
    assert widget_token_resolve(token=live_token) is not None
