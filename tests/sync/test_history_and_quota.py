"""A CRM whose deletions list no longer reaches back (CrmHistoryExpired) gets its ids reconciled inside the delta run;
a CRM whose API allocation is used up (CrmQuotaExhausted) stops the run cleanly and pauses the object until it frees,
shown on the dashboard and alerted once. Against the Zoho sandbox over real HTTP: the allocation is the sandbox's
own 24 h credit pool running out mid-run; Zoho's deleted-records list never expires, so a Zoho provider that says
its history starts 15 days ago stands in for a CRM whose list does (Salesforce's getDeleted)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from django.core import mail
from django.utils import timezone

from crm.errors import CrmHistoryExpired
from crm.providers.zoho.provider import ZohoCrmProvider
from crm.records import DeletedRecord, Priority
from sync.alerts import sync_alerts_check
from sync.backfill import backfill_run
from sync.delta import sync_run
from sync.models import CrmRecord, SyncRun, SyncSchedule, SyncState
from sync.schedules import schedules_due
from sync.tasks import sync_run_task
from tests.crm.zoho.conftest import control
from tests.sync.conftest import seed, store


class FifteenDaysOfDeletions(ZohoCrmProvider):
    """Zoho, except that its deleted-records list starts 15 days ago, as Salesforce's getDeleted does."""

    def deleted_since(self, *, object: str, since: datetime | None) -> Iterator[DeletedRecord]:
        earliest = timezone.now() - timedelta(days=15)
        if since is None or since < earliest:
            raise CrmHistoryExpired(
                "getDeleted: the start date is before the earliest date available", available_from=earliest
            )
        yield from super().deleted_since(object=object, since=since)


def state_of(organization) -> SyncState:
    return SyncState.objects.for_organization(organization).get(object="lead")


def live(organization) -> set[str]:
    rows = CrmRecord.objects.for_organization(organization).filter(object="lead", deleted_at__isnull=True)
    return set(rows.values_list("external_id", flat=True))


def test_an_expired_deletions_history_reconciles_every_id_then_reads_deletions_from_then_on(
    organization, account, empty_sandbox
):
    seed(empty_sandbox, 300)
    assert sync_run(organization=organization, object="lead").status == SyncRun.Status.OK
    # The last run that read deletions was 20 days ago; meanwhile three leads were deleted for good.
    SyncState.objects.for_organization(organization).update(deleted_watermark=timezone.now() - timedelta(days=20))
    gone = sorted(store(empty_sandbox))[:3]
    for lead_id in gone:
        control(empty_sandbox, "DELETE", f"zoho/Leads/{lead_id}?permanent=1")
    provider = FifteenDaysOfDeletions(account, priority=Priority.BACKGROUND)

    run = sync_run(organization=organization, object="lead", provider=provider)
    assert run.status == SyncRun.Status.OK, run.error
    assert run.deleted == 3
    assert "no longer reaches back" in run.error
    assert "3 marked deleted" in run.error
    assert live(organization) == set(store(empty_sandbox))
    state = state_of(organization)
    assert run.started_at <= state.deleted_watermark <= run.finished_at  # deletions are read from then on
    assert state.locked_by_id is None

    # The next run asks for deletions since then, which the CRM still lists: no reconciliation, no note.
    control(empty_sandbox, "DELETE", f"zoho/Leads/{sorted(store(empty_sandbox))[0]}")
    after = sync_run(organization=organization, object="lead", provider=provider)
    assert after.status == SyncRun.Status.OK, after.error
    assert (after.deleted, after.error) == (1, "")


@pytest.fixture
def alerts_by_mail(settings):
    settings.SYNC_ALERT_SLACK_WEBHOOK_URL = ""
    settings.SYNC_ALERT_EMAILS = ["ops@leadline.test"]
    settings.SYNC_MODULES = ["Leads"]


def test_a_used_up_allocation_pauses_the_object_until_it_frees_and_the_next_run_resumes(
    organization, account, empty_sandbox, settings, client, operator, alerts_by_mail
):
    settings.SYNC_COQL_PAGE_SIZE = 200
    settings.SYNC_BATCH_SIZE = 200
    seed(empty_sandbox, 1_000)
    zoho_org = next(iter(empty_sandbox.state.crm.orgs.values()))
    # The org's 24 h pool runs out a few pages into the first load.
    empty_sandbox.state.config.api_credits_per_day = zoho_org.credits_used() + 4

    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.PAUSED, run.error
    assert run.error.startswith("API allocation used up until ")
    assert 0 < run.inserted < 1_000
    state = state_of(organization)
    assert state.checkpoint_time is not None  # what was read stays, and the next run resumes from it
    assert state.locked_by_id is None
    assert timedelta(minutes=59) < state.paused_until - timezone.now() <= timedelta(hours=1)  # Zoho said no time
    assert state.paused_reason == run.error[:300]

    # The schedule waits: not due, whatever the interval; one alert says why (not "failing", not "silent").
    later = timezone.now() + timedelta(minutes=45)
    assert not [item for item in schedules_due(now=later) if item.object == "lead"]
    alerts = sync_alerts_check(now=later)
    assert [alert.kind for alert in alerts] == ["paused"]
    assert "API allocation used up until" in mail.outbox[-1].body
    assert sync_alerts_check(now=later) == []  # once per incident
    assert SyncSchedule.objects.for_organization(organization).get(object="lead").alert_state == "paused"
    client.force_login(operator)
    html = client.get("/ops/sync/").content.decode()
    assert "API allocation used up until" in html

    # The allocation frees and the pause is over: the next run resumes from the checkpoint and finishes.
    empty_sandbox.state.config.api_credits_per_day = 1_000_000
    assert [item.object for item in schedules_due(now=state.paused_until + timedelta(seconds=1))] == ["lead"]
    again = sync_run(organization=organization, object="lead")
    assert again.status == SyncRun.Status.OK, again.error
    assert again.resumed
    assert live(organization) == set(store(empty_sandbox))
    state = state_of(organization)
    assert (state.paused_until, state.paused_reason, state.checkpoint_time) == (None, "", None)
    assert [alert.kind for alert in sync_alerts_check(now=timezone.now())] == ["recovered"]
    assert "API allocation used up" not in client.get("/ops/sync/").content.decode().split("Last runs")[0]


def test_a_backfill_meeting_a_used_up_allocation_pauses_and_the_scheduled_task_loads_it_later(
    organization, account, empty_sandbox
):
    seed(empty_sandbox, 300)
    zoho_org = next(iter(empty_sandbox.state.crm.orgs.values()))
    empty_sandbox.state.config.api_credits_per_day = zoho_org.credits_used()  # nothing left

    paused = backfill_run(organization=organization, object="lead")
    assert paused.status == SyncRun.Status.PAUSED, paused.error
    assert state_of(organization).paused_until > timezone.now()

    empty_sandbox.state.config.api_credits_per_day = 1_000_000
    assert sync_run_task(organization.pk, "lead", account.pk) == SyncRun.Status.OK  # still the backfill: no rows yet
    assert SyncRun.objects.for_organization(organization).order_by("-pk").first().kind == SyncRun.Kind.BACKFILL
    assert live(organization) == set(store(empty_sandbox))
    assert state_of(organization).paused_until is None
