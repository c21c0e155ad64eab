"""The "Two-way sync links" section of the sync dashboard (`/ops/sync/`): each link's state, lag, pending, failed,
conflicts, reviews and what blocks it, with links to the admin's queue; a manager's organization only, operators
every one (or the one chosen)."""

from __future__ import annotations

import pytest

from django.urls import reverse

from links.models import SyncLink
from sync.dashboard_sections import dashboard_sections
from tests.links.ops_rows import build

pytestmark = pytest.mark.django_db

URL = "/ops/sync/"


@pytest.fixture
def a(tenant_a):
    return build(tenant_a, "alpha", digits="1")


@pytest.fixture
def b(tenant_b):
    return build(tenant_b, "bravo", digits="2")


def section(response):
    (links,) = [s for s in response.context["dashboard"].sections if s.key == "links"]
    return links


def test_the_links_register_their_section_with_sync():
    assert "links" in [s.key for s in dashboard_sections()]


def test_a_manager_sees_their_links_with_counts_and_links_to_the_admin_and_nothing_of_another(client, a, b):
    client.force_login(a.tenant.manager.user)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Two-way sync links" in html
    assert "link-alpha" in html
    assert "link-bravo" not in html
    ((row),) = section(response).data
    status = row.status
    assert (status.link.pk, status.failed_writes, status.conflicts_24h, status.open_reviews) == (a.link.pk, 1, 1, 1)
    assert status.lag_p50_seconds == pytest.approx(10, abs=0.5)
    failed = f"{reverse('admin:links_linkwrite_changelist')}?link__id__exact={a.link.pk}&amp;state=failed"
    reviews = f"{reverse('admin:links_matchreview_changelist')}?link__id__exact={a.link.pk}&amp;state=open"
    assert failed in html
    assert reviews in html
    assert "10.0 s / 10.0 s" in html


def test_a_manager_cannot_see_another_organizations_links_through_the_filter(client, a, b):
    client.force_login(a.tenant.manager.user)
    response = client.get(URL, {"organization": b.organization.pk})
    assert [row.status.link.pk for row in section(response).data] == [a.link.pk]
    assert "link-bravo" not in response.content.decode()


def test_an_operator_sees_every_organizations_links_and_can_filter_to_one(client, operator, a, b):
    client.force_login(operator)
    response = client.get(URL)
    assert {row.status.link.pk for row in section(response).data} == {a.link.pk, b.link.pk}
    html = response.content.decode()
    assert a.organization.name in html
    filtered = client.get(URL, {"organization": b.organization.pk})
    assert [row.status.link.pk for row in section(filtered).data] == [b.link.pk]


def test_a_blocked_link_says_why(client, a):
    SyncLink.unscoped_objects.filter(pk=a.link.pk).update(pause_reason="acme-zoho needs <reconnecting>")
    client.force_login(a.tenant.manager.user)
    html = client.get(URL).content.decode()
    assert "Blocked:" in html
    assert "acme-zoho needs &lt;reconnecting&gt;" in html


def test_staff_are_refused(client, a):
    client.force_login(a.tenant.staff.user)
    assert client.get(URL).status_code == 403


def test_no_links_says_so(client, tenant_a):
    client.force_login(tenant_a.manager.user)
    assert "No two-way sync links." in client.get(URL).content.decode()


def test_the_section_keeps_the_page_to_a_bounded_number_of_queries(
    client, operator, a, b, django_assert_max_num_queries
):
    client.force_login(operator)
    with django_assert_max_num_queries(26):  # the mirror's page (about a dozen) and the links' six reads
        assert client.get(URL).status_code == 200
