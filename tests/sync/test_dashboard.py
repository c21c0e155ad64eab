"""The operator dashboard `/ops/sync/`: scoped per organization, drawn as inline SVG, escaped, bounded queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from django.urls import reverse
from django.utils import timezone

from sync.models import CrmQuarantine, SyncRun, SyncState
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/ops/sync/"


def make_run(tenant, object: str, *, minutes_ago: float, seconds: float = 30, status=SyncRun.Status.OK, **kwargs):
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.unscoped_objects.create(
        organization=tenant.organization,
        connection=tenant.zoho,
        object=object,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        status=status,
        **kwargs,
    )


def seed(tenant, object: str, error: str, field: str) -> None:
    for i in range(3):
        make_run(tenant, object, minutes_ago=60 * (i + 1), seconds=10 + i * 20, credits_used=5)
    failed = make_run(tenant, object, minutes_ago=30, seconds=4, status=SyncRun.Status.FAILED, error=error)
    SyncState.unscoped_objects.create(
        organization=tenant.organization,
        connection=tenant.zoho,
        object=object,
        watermark=timezone.now() - timedelta(minutes=45),
    )
    CrmQuarantine.unscoped_objects.create(
        organization=tenant.organization,
        connection=tenant.zoho,
        object=object,
        external_id="4150868000000999001",
        field=field,
        value="lots",
        reason=f"{field} is not an integer",
        run=failed,
    )


@pytest.fixture
def two_tenants(tenant_a, tenant_b):
    seed(tenant_a, "lead", "Zoho said INVALID_TOKEN for acme", "Acme_Headcount")
    seed(tenant_b, "Bolt_Widgets", "Zoho said LIMIT_REACHED for bolt", "Bolt_Field")
    return tenant_a, tenant_b


def test_the_url_is_ops_sync():
    assert reverse("sync:dashboard") == URL


def test_a_manager_sees_their_organizations_objects_errors_and_quarantine_and_nothing_of_another(client, two_tenants):
    tenant_a, _ = two_tenants
    client.force_login(tenant_a.manager.user)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "lead" in html
    assert "Zoho said INVALID_TOKEN for acme" in html
    assert "Acme_Headcount" in html
    assert "Bolt_Widgets" not in html
    assert "LIMIT_REACHED" not in html
    assert "Bolt_Field" not in html
    assert "Bolt Fitness" not in html
    assert 'name="organization"' not in html  # no organization filter for managers
    module = response.context["dashboard"].objects
    # "Today" starts at midnight: shortly after it, the seeded runs of one to three hours ago are yesterday's.
    midnight = timezone.localtime(response.context["dashboard"].now).replace(hour=0, minute=0, second=0, microsecond=0)
    runs_today = SyncRun.unscoped_objects.filter(organization=tenant_a.organization, started_at__gte=midnight)
    credits_today = sum(runs_today.values_list("credits_used", flat=True))
    assert [(m.organization_id, m.object, m.ok, m.failed, m.credits_today) for m in module] == [
        (tenant_a.organization.pk, "lead", 3, 1, credits_today)
    ]


def test_a_manager_cannot_reach_another_organization_through_the_filter(client, two_tenants):
    tenant_a, tenant_b = two_tenants
    client.force_login(tenant_a.manager.user)
    html = client.get(URL, {"organization": tenant_b.organization.pk}).content.decode()
    assert "Bolt_Widgets" not in html
    assert "LIMIT_REACHED" not in html
    assert "lead" in html


def test_an_operator_sees_every_organization_and_can_filter_to_one(client, operator, two_tenants):
    _, tenant_b = two_tenants
    client.force_login(operator)
    html = client.get(URL).content.decode()
    for text in ("lead", "Bolt_Widgets", "INVALID_TOKEN", "LIMIT_REACHED", "Acme_Headcount", "Bolt_Field"):
        assert text in html
    assert 'name="organization"' in html

    filtered = client.get(URL, {"organization": tenant_b.organization.pk})
    html = filtered.content.decode()
    assert "Bolt_Widgets" in html
    assert "LIMIT_REACHED" in html
    assert "INVALID_TOKEN" not in html
    assert "Acme_Headcount" not in html
    assert [m.object for m in filtered.context["dashboard"].objects] == ["Bolt_Widgets"]


def test_staff_are_refused(client, two_tenants):
    tenant_a, _ = two_tenants
    client.force_login(tenant_a.staff.user)
    assert client.get(URL).status_code == 403


def test_a_django_staff_user_without_a_manager_membership_is_refused(client, two_tenants):
    member = MembershipFactory(organization=two_tenants[0].organization, user__is_staff=True)
    client.force_login(member.user)
    assert client.get(URL).status_code == 403


def test_anonymous_visitors_are_sent_to_the_admin_login(client, two_tenants):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "next=/ops/sync/" in response["Location"]


def test_the_charts_are_inline_svg_with_numeric_points_and_a_csp(client, two_tenants):
    tenant_a, _ = two_tenants
    client.force_login(tenant_a.manager.user)
    response = client.get(URL)
    html = response.content.decode()
    assert "<script" not in html.split('<div id="content-main">', 1)[1]
    points = re.findall(r'<polyline[^>]*points="([^"]+)"', html)
    assert len(points) == 1
    pairs = points[0].split()
    assert len(pairs) == 4  # one point per finished run in the last 24 h
    for pair in pairs:
        x, y = pair.split(",")
        assert 0 <= float(x) <= 240
        assert 0 <= float(y) <= 40
    bars = re.findall(r'<rect x="0" y="(?:2|12)" width="([0-9.]+)"', html)
    assert [float(width) for width in bars] == [pytest.approx(180.0), pytest.approx(60.0)]  # 3 ok, 1 failed of 4
    assert response["Content-Security-Policy"].startswith("default-src 'self'; style-src 'self' 'unsafe-inline'")


def test_an_error_with_markup_is_escaped(client, tenant_a):
    make_run(tenant_a, "lead", minutes_ago=5, status=SyncRun.Status.FAILED, error="<script>alert(1)</script>")
    client.force_login(tenant_a.manager.user)
    html = client.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_does_a_bounded_number_of_queries_whatever_the_number_of_runs(
    client, operator, two_tenants, django_assert_max_num_queries
):
    tenant_a, tenant_b = two_tenants
    for tenant in (tenant_a, tenant_b):
        for i in range(60):
            make_run(tenant, f"Module{i % 6}", minutes_ago=i * 10, status=SyncRun.Status.FAILED, error=f"boom {i}")
    client.force_login(operator)
    # About a dozen today (session, user, membership, five dashboard reads, the admin's own context); 120 runs
    # with an N+1 would be far beyond the bound.
    with django_assert_max_num_queries(20):
        response = client.get(URL)
    assert response.status_code == 200
    assert len(response.context["dashboard"].errors) == 20
    client.force_login(tenant_a.manager.user)
    with django_assert_max_num_queries(20):
        assert client.get(URL).status_code == 200


def test_notification_runs_are_counted_apart_from_the_scheduled_runs(client, tenant_a):
    """Many small notification runs must not hide a delta sync that fails, nor flatten its sparkline."""
    make_run(tenant_a, "lead", minutes_ago=90, seconds=120, status=SyncRun.Status.FAILED, error="boom")
    for i in range(5):
        make_run(tenant_a, "lead", minutes_ago=10 + i, seconds=0.2, kind=SyncRun.Kind.NOTIFICATION)
    make_run(tenant_a, "lead", minutes_ago=5, seconds=0.2, kind=SyncRun.Kind.NOTIFICATION, status="failed")
    client.force_login(tenant_a.manager.user)
    response = client.get(URL)
    (leads,) = response.context["dashboard"].objects
    assert (leads.ok, leads.failed, leads.notifications, leads.notifications_failed) == (0, 1, 6, 1)
    assert leads.last_ok_started_at is None  # the notification runs were ok, the scheduled sync never was
    assert leads.max_duration_seconds == 120
    assert "6 notification runs (1 failed)" in response.content.decode()


def test_sections_other_apps_register_are_read_with_the_pages_scope(monkeypatch, tenant_a, tenant_b):
    """Apps built on the mirror (two-way sync links) add sections without sync importing them."""
    from sync import dashboard_sections
    from sync.dashboard_selectors import sync_dashboard_get

    monkeypatch.setattr(dashboard_sections, "_sections", {})
    seen = []

    @dashboard_sections.dashboard_section(key="probe", title="Probe", template="probe.html")
    def probe(*, manager, organization, now):
        seen.append((manager, organization))
        return ["rows"]

    (shown,) = sync_dashboard_get(manager=tenant_a.manager).sections
    assert (shown.key, shown.title, shown.template, shown.data) == ("probe", "Probe", "probe.html", ["rows"])
    sync_dashboard_get(manager=None, organization=tenant_b.organization)
    assert seen == [(tenant_a.manager, None), (None, tenant_b.organization)]
