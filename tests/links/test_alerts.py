"""Alerts of two-way sync links (Slack and e-mail, as the mirror's): failing, lagging and blocked links, once per
incident, and "recovered" when it ends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.core import mail
from django.utils import timezone

from links.alerts import links_alerts_check
from links.models import LinkChange, LinkWrite, SyncLink
from tests.links.ops_rows import build, write
from tests.sandbox.twilio_support import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack(settings):
    receiver = Receiver()
    receiver.answer("/slack", (200, "ok", "text/plain"))
    settings.SYNC_ALERT_SLACK_WEBHOOK_URL = f"{receiver.url}/slack"
    settings.SYNC_ALERT_EMAILS = ["ops@leadline.test"]
    settings.LINKS_LAG_ALERT_SECONDS = 1800
    yield receiver
    receiver.stop()


@pytest.fixture
def rows(tenant_a):
    return build(tenant_a, "alpha")


def kinds(alerts) -> list[str]:
    return [alert.kind for alert in alerts]


def resolve(rows, state=LinkWrite.State.SKIPPED) -> None:
    LinkWrite.unscoped_objects.filter(link=rows.link, state=LinkWrite.State.FAILED).update(state=state)


def test_failed_writes_alert_once_with_the_crms_words_then_recovered_when_the_queue_is_empty(slack, rows):
    alerts = links_alerts_check()
    assert kinds(alerts) == ["failing"]
    assert "validation rule says no to alpha" in alerts[0].text
    assert "link-alpha" in alerts[0].text
    assert len(slack.requests) == 1
    assert slack.requests[0].json()["text"] == alerts[0].text
    assert mail.outbox[-1].subject == f"Leadline two-way sync: {rows.organization.name} link-alpha failing"

    write(rows.link, pair=rows.pair, state=LinkWrite.State.FAILED, sent_at=timezone.now())
    assert links_alerts_check() == []  # once per incident, whatever fails meanwhile
    assert len(slack.requests) == 1

    resolve(rows)
    assert kinds(links_alerts_check()) == ["recovered"]
    rows.link.refresh_from_db()
    assert rows.link.alert_state == ""
    assert links_alerts_check() == []
    assert len(mail.outbox) == 2


def test_failures_a_manager_leaves_in_the_queue_do_not_reopen_an_incident_new_ones_do(slack, rows):
    now = timezone.now()
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(alert_state="", alert_sent_at=now)
    assert links_alerts_check(now=now + timedelta(minutes=1)) == []  # the failure is older than the last alert
    write(rows.link, pair=rows.pair, state=LinkWrite.State.FAILED, sent_at=now + timedelta(seconds=30))
    assert kinds(links_alerts_check(now=now + timedelta(minutes=2))) == ["failing"]


def test_a_running_link_with_a_change_waiting_too_long_is_lagging(slack, rows, settings):
    resolve(rows)
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(alert_sent_at=timezone.now())
    settings.LINKS_LAG_ALERT_SECONDS = 600
    change = LinkChange.unscoped_objects.create(
        organization=rows.organization,
        link=rows.link,
        link_object=rows.link_object,
        side="a",
        external_id="1",
        seen_at=timezone.now() - timedelta(minutes=5),
    )
    assert links_alerts_check() == []  # five minutes: within the limit
    LinkChange.unscoped_objects.filter(pk=change.pk).update(seen_at=timezone.now() - timedelta(minutes=11))
    (alert,) = links_alerts_check()
    assert alert.kind == "lagging"
    assert "1 changes and 0 writes pending" in alert.text
    LinkChange.unscoped_objects.filter(pk=change.pk).update(processed_at=timezone.now())
    assert kinds(links_alerts_check()) == ["recovered"]


def test_a_paused_link_is_never_lagging_or_blocked(slack, rows):
    resolve(rows)
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(
        state=SyncLink.State.PAUSED, pause_reason="paused by the manager", alert_sent_at=timezone.now()
    )
    LinkChange.unscoped_objects.create(
        organization=rows.organization,
        link=rows.link,
        link_object=rows.link_object,
        side="a",
        external_id="1",
        seen_at=timezone.now() - timedelta(hours=5),
    )
    assert links_alerts_check() == []


def test_a_connection_to_reconnect_blocks_the_link_and_another_kind_meanwhile_is_not_alerted_again(slack, rows):
    reason = "acme-zoho needs reconnecting: Zoho refused the token (INVALID_TOKEN)"
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(pause_reason=reason)
    (alert,) = links_alerts_check()
    assert alert.kind == "blocked"
    assert reason in alert.text
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(pause_reason="")
    assert links_alerts_check() == []  # still failing (the queue): the same incident, of another kind now
    rows.link.refresh_from_db()
    assert rows.link.alert_state == "failing"
    resolve(rows)
    assert kinds(links_alerts_check()) == ["recovered"]


def test_each_organizations_links_alert_on_their_own(slack, tenant_a, tenant_b):
    build(tenant_a, "alpha", digits="1")
    build(tenant_b, "bravo", digits="2")
    alerts = links_alerts_check()
    assert sorted((alert.organization_id, alert.kind) for alert in alerts) == sorted(
        [(tenant_a.organization.pk, "failing"), (tenant_b.organization.pk, "failing")]
    )


def test_without_the_setting_the_lag_limit_is_half_an_hour(slack, rows, settings):
    del settings.LINKS_LAG_ALERT_SECONDS
    resolve(rows)
    SyncLink.unscoped_objects.filter(pk=rows.link.pk).update(alert_sent_at=timezone.now())
    write(rows.link, pair=rows.pair, state=LinkWrite.State.PENDING)
    LinkWrite.unscoped_objects.filter(link=rows.link, state=LinkWrite.State.PENDING).update(
        created_at=timezone.now() - timedelta(minutes=29)
    )
    assert links_alerts_check() == []
    LinkWrite.unscoped_objects.filter(link=rows.link, state=LinkWrite.State.PENDING).update(
        created_at=timezone.now() - timedelta(minutes=31)
    )
    assert kinds(links_alerts_check()) == ["lagging"]
