"""The admin's Sync runs and Sync schedules lists link to the dashboard for those who may open it."""

from __future__ import annotations

import pytest

from django.urls import reverse

from sync.models import SyncRun
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/ops/sync/"
LISTS = ["admin:sync_syncrun_changelist", "admin:sync_syncschedule_changelist"]


@pytest.mark.parametrize("changelist", LISTS)
def test_an_operator_finds_the_dashboard_from_the_admin(client, operator, tenant_a, changelist):
    client.force_login(operator)
    response = client.get(reverse(changelist))
    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()
    assert client.get(DASHBOARD).status_code == 200


@pytest.mark.parametrize("changelist", LISTS)
def test_a_manager_finds_the_dashboard_and_it_shows_their_organization_only(client, tenant_a, tenant_b, changelist):
    SyncRun.objects.create(
        organization=tenant_b.organization,
        connection=tenant_b.zoho,
        object="Bolt_Widgets",
        started_at="2026-01-01T00:00:00Z",
    )
    client.force_login(tenant_a.manager.user)
    response = client.get(reverse(changelist))
    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()
    dashboard = client.get(DASHBOARD)
    assert dashboard.status_code == 200
    assert "Bolt_Widgets" not in dashboard.content.decode()


def test_staff_who_may_not_open_the_dashboard_get_no_link(client, tenant_a):
    staff = UserFactory(email="helper@leadline.test", is_staff=True)  # admin access, no membership, no superuser
    client.force_login(staff)
    assert client.get(DASHBOARD).status_code == 403
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert DASHBOARD not in response.content.decode()
    assert client.get(reverse("admin:sync_syncrun_changelist")).status_code == 403


def test_studio_staff_have_neither(client, tenant_a):
    client.force_login(tenant_a.staff.user)
    assert client.get(DASHBOARD).status_code == 403
    assert client.get(reverse("admin:sync_syncrun_changelist")).status_code == 302  # to the admin login
