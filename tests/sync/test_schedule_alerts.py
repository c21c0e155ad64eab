"""Schedules (which objects are due), alerts once per incident (Slack and e-mail) and the sync admin's scoping."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm.connections import crm_connection_get
from sync.models import SyncRun, SyncSchedule
from sync.objects import object_name
from sync.tasks import sync_due_task, sync_run_task
from tests.factories import OrganizationFactory
from tests.sandbox.twilio_support import Receiver


@pytest.fixture(autouse=True)
def _modules(settings):
    settings.SYNC_MODULES = ["Leads", "Deals"]
    settings.SYNC_ALERT_SLACK_WEBHOOK_URL = ""
    settings.SYNC_ALERT_EMAILS = []


@pytest.fixture
def enqueued():
    calls: list[tuple[int, str]] = []

    def delay(org_id: int, object: str, connection_id: int) -> None:
        calls.append((org_id, object))

    with mock.patch.object(sync_run_task, "delay", side_effect=delay):
        yield calls


@pytest.fixture
def slack(settings):
    receiver = Receiver()
    receiver.answer("/slack", (200, "ok", "text/plain"))
    settings.SYNC_ALERT_SLACK_WEBHOOK_URL = f"{receiver.url}/slack"
    settings.SYNC_ALERT_EMAILS = ["ops@leadline.test"]
    yield receiver
    receiver.stop()


def run(organization, name: str, status: str, minutes_ago: float, error: str = "") -> SyncRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.unscoped_objects.create(
        organization=organization,
        connection=crm_connection_get(organization=organization),
        object=object_name(name),
        started_at=started,
        finished_at=started,
        status=status,
        error=error,
    )


def schedule(tenant, name: str, **values) -> SyncSchedule:
    return SyncSchedule.unscoped_objects.create(
        organization=tenant.organization, connection=tenant.zoho, object=object_name(name), **values
    )


def test_due_runs_are_enqueued_only_when_their_interval_has_passed(tenant_a, enqueued):
    org = tenant_a.organization
    run(org, "Leads", SyncRun.Status.OK, 5)
    run(org, "Deals", SyncRun.Status.OK, 16)
    assert sync_due_task() == 1
    assert enqueued == [(org.pk, "deal")]


def test_a_module_that_never_ran_is_due(tenant_a, enqueued):
    sync_due_task()
    assert enqueued == [(tenant_a.organization.pk, "lead"), (tenant_a.organization.pk, "deal")]


def test_a_schedule_row_sets_the_interval_and_disabled_schedules_are_skipped(tenant_a, enqueued):
    org = tenant_a.organization
    schedule(tenant_a, "Leads", interval_minutes=60)
    schedule(tenant_a, "Deals", is_enabled=False)
    schedule(tenant_a, "Tasks", interval_minutes=5)
    run(org, "Leads", SyncRun.Status.OK, 20)
    run(org, "Tasks", SyncRun.Status.OK, 6)
    sync_due_task()
    assert enqueued == [(org.pk, "task")]


def test_default_schedules_only_for_active_organizations_with_a_crm_connection(tenant_a, enqueued):
    OrganizationFactory(slug="no-crm", name="No CRM")
    tenant_a.organization.is_active = False
    tenant_a.organization.save()
    other = OrganizationFactory(slug="has-crm", name="Has CRM")
    from tests.factories import ZohoCrmAccountFactory

    ZohoCrmAccountFactory(organization=other)
    sync_due_task()
    assert enqueued == [(other.pk, "lead"), (other.pk, "deal")]


def test_two_failures_alert_once_a_third_stays_quiet_and_a_success_says_recovered(tenant_a, enqueued, slack):
    org = tenant_a.organization
    run(org, "Leads", SyncRun.Status.OK, 10)
    run(org, "Leads", SyncRun.Status.FAILED, 3, error="ZohoError: boom-first")
    sync_due_task()
    assert slack.at("/slack") == []
    assert mail.outbox == []

    second = run(org, "Leads", SyncRun.Status.FAILED, 2, error="ZohoError: boom-second")
    sync_due_task()
    posts = slack.at("/slack")
    assert len(posts) == 1
    text = posts[0].json()["text"]
    assert "failed twice in a row" in text
    assert org.name in text
    assert "lead" in text
    assert str(second.pk) in text
    assert "boom-second" in text
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@leadline.test"]
    assert "boom-second" in mail.outbox[0].body

    run(org, "Leads", SyncRun.Status.FAILED, 1)
    sync_due_task()
    sync_due_task()
    assert len(slack.at("/slack")) == 1
    assert len(mail.outbox) == 1

    run(org, "Leads", SyncRun.Status.OK, 0)
    sync_due_task()
    posts = slack.at("/slack")
    assert len(posts) == 2
    assert "recovered" in posts[1].json()["text"]
    assert len(mail.outbox) == 2
    assert "recovered" in mail.outbox[1].subject
    assert SyncSchedule.objects.for_organization(org).get(object="lead").alert_state == ""


def test_three_silent_intervals_alert_once(tenant_a, enqueued, slack):
    org = tenant_a.organization
    run(org, "Deals", SyncRun.Status.OK, 2)
    run(org, "Leads", SyncRun.Status.OK, 50)  # 15-minute default: more than three intervals ago
    run(org, "Leads", SyncRun.Status.SKIPPED, 10)
    sync_due_task()
    sync_due_task()
    posts = slack.at("/slack")
    assert len(posts) == 1
    assert "has not succeeded for 3 intervals" in posts[0].json()["text"]
    assert "lead" in posts[0].json()["text"]
    assert len(mail.outbox) == 1


def test_a_module_within_three_intervals_is_not_silent(tenant_a, enqueued, slack):
    run(tenant_a.organization, "Leads", SyncRun.Status.OK, 40)
    run(tenant_a.organization, "Deals", SyncRun.Status.OK, 1)
    sync_due_task()
    assert slack.at("/slack") == []
    assert mail.outbox == []


def test_no_channels_configured_sends_nothing_but_remembers_the_incident(tenant_a, enqueued):
    org = tenant_a.organization
    run(org, "Leads", SyncRun.Status.FAILED, 3)
    run(org, "Leads", SyncRun.Status.FAILED, 2)
    sync_due_task()
    assert mail.outbox == []
    assert SyncSchedule.objects.for_organization(org).get(object="lead").alert_state == "failing"


def test_a_failed_run_is_reported_to_sentry_with_its_tags(tenant_a, monkeypatch):
    import sentry_sdk

    from sync import delta

    tags: dict = {}

    def fail(*args, **kwargs):
        tags.update(sentry_sdk.get_current_scope()._tags)
        raise RuntimeError("boom")

    monkeypatch.setattr(delta, "records_sync", lambda **kwargs: None)
    monkeypatch.setattr(delta, "deletions_sync", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("boom")))
    monkeypatch.setattr(delta.logger, "exception", fail)
    with pytest.raises(RuntimeError):
        delta.sync_run(organization=tenant_a.organization, object="lead", provider=FakeProvider(tenant_a.zoho))
    assert tags["organization"] == tenant_a.organization.slug
    assert tags["crm_object"] == "lead"
    assert tags["run_id"]


class FakeProvider:
    """Stands for a provider whose run never reaches the CRM (its reads are patched out)."""

    def __init__(self, connection) -> None:
        self.connection = connection


# --- admin -----------------------------------------------------------------------------------------------------
def schedule_url(view: str, *args) -> str:
    return reverse(f"admin:sync_syncschedule_{view}", args=args)


def test_a_manager_gets_not_found_on_another_organizations_schedule(client, tenant_a, tenant_b):
    row = schedule(tenant_a, "lead")
    client.force_login(tenant_b.manager.user)
    for view in ("change", "history", "delete"):
        for method in ("get", "post"):
            response = getattr(client, method)(schedule_url(view, row.pk))
            assert response.status_code in (302, 403, 404)
            if response.status_code == 302:
                assert response.url == reverse("admin:index")
    response = client.get(schedule_url("changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == []
    row.refresh_from_db()
    assert row.interval_minutes == 15


def test_a_manager_edits_their_own_schedule(client, tenant_a):
    row = schedule(tenant_a, "lead")
    client.force_login(tenant_a.manager.user)
    response = client.post(
        schedule_url("change", row.pk),
        {
            "organization": tenant_a.organization.pk,
            "connection": tenant_a.zoho.pk,
            "object": "lead",
            "interval_minutes": 30,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row.refresh_from_db()
    assert (row.connection_id, row.interval_minutes, row.is_enabled) == (tenant_a.zoho.pk, 30, False)


def test_a_manager_sees_none_of_another_organizations_runs(client, tenant_a, tenant_b):
    mine = run(tenant_b.organization, "Leads", SyncRun.Status.OK, 1)
    theirs = run(tenant_a.organization, "Leads", SyncRun.Status.FAILED, 1)
    client.force_login(tenant_b.manager.user)
    response = client.get(reverse("admin:sync_syncrun_changelist"))
    assert response.status_code == 200
    assert set(response.context["cl"].queryset.values_list("pk", flat=True)) == {mine.pk}
    response = client.get(reverse("admin:sync_syncrun_change", args=[theirs.pk]))
    assert response.status_code in (302, 403, 404)
    response = client.post(reverse("admin:sync_syncrun_delete", args=[mine.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert SyncRun.objects.for_organization(tenant_b.organization).filter(pk=mine.pk).exists()
