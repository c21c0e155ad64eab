"""Widget sessions in the admin: a manager sees and signs out their organization's, nobody else's."""

from __future__ import annotations

import pytest

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

from identity.models import WidgetToken
from identity.tokens import widget_token_issue

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:accounts_widgettoken_changelist"


def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def test_a_manager_signs_out_a_members_widget_session(tenant_a):
    token, row = widget_token_issue(membership=tenant_a.staff)
    manager = signed_in(tenant_a.manager)
    listing = manager.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert tenant_a.staff.user.email in listing.content.decode()
    response = manager.post(reverse(CHANGELIST), {"action": "revoke", ACTION_CHECKBOX_NAME: [row.pk]})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert Client().get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_another_organizations_manager_and_staff_see_nothing(tenant_a, tenant_b):
    _, row = widget_token_issue(membership=tenant_a.staff)
    other = signed_in(tenant_b.manager)
    assert tenant_a.staff.user.email not in other.get(reverse(CHANGELIST)).content.decode()
    page = other.get(reverse("admin:accounts_widgettoken_change", args=[row.pk]))
    assert page.status_code in (302, 404)  # the admin's "not found" redirects to the index with a message
    other.post(reverse(CHANGELIST), {"action": "revoke", ACTION_CHECKBOX_NAME: [row.pk]})
    assert WidgetToken.objects.unscoped().get(pk=row.pk).revoked_at is None
    staff = signed_in(tenant_a.staff).get(reverse(CHANGELIST))
    assert staff.status_code == 302
    assert staff.url.startswith(reverse("admin:login"))
