"""A notification channel deleted on the CRM's side (Zoho in the sandbox) is found (a periodic check, or a delta run
that finds changes the channel did not announce: either renews the subscription, which the CRM refuses for one it no
longer has), subscribed again at once, and said so: a log line, the run's note, the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from django.core.cache import cache

from crm.providers.zoho.client import ZohoClient
from sync import notifications
from sync.delta import sync_run
from sync.models import NotificationChannel, SyncRun
from sync.notifications import channel_ensure, channels_renew_due
from tests.sync.conftest import seed

pytestmark = pytest.mark.django_db


def sandbox_channels(server: Any) -> dict[str, Any]:
    org = next(iter(server.state.crm.orgs.values()))
    return {channel.channel_id: channel for channel in server.state.crm.watch.live(org.org_id)}


def deleted_at_zoho(account, channel: NotificationChannel) -> None:
    """What a Zoho administrator (or Zoho itself) does: the channel is gone, and nobody tells us."""
    ZohoClient(account=account).watch_disable(channel_ids=[channel.channel_id])


@pytest.fixture
def checks(monkeypatch) -> list[int]:
    """Counts renewals (PATCH /actions/watch): how the mirror asks whether a channel is still there."""
    calls: list[int] = []
    original = ZohoClient.watch_renew

    def counting(self, **kwargs):
        calls.append(1)
        return original(self, **kwargs)

    monkeypatch.setattr(ZohoClient, "watch_renew", counting)
    return calls


def test_the_periodic_check_finds_a_channel_deleted_at_zoho_and_subscribes_it_again(
    organization, account, empty_sandbox
):
    channel = channel_ensure(organization=organization)
    deleted_at_zoho(account, channel)
    assert str(channel.channel_id) not in sandbox_channels(empty_sandbox)

    with capture_logs() as logs:
        live = channels_renew_due()

    assert live == 1
    again = sandbox_channels(empty_sandbox)[str(channel.channel_id)]
    channel.refresh_from_db()
    assert again.token == channel.token.reveal()
    assert channel.is_active
    assert "re-subscribed" in channel.last_error
    assert "the CRM no longer had the subscription" in channel.last_error
    lost = [line for line in logs if line["event"] == "sync.notifications.channel_lost"]
    assert [(line["log_level"], line["found_by"]) for line in lost] == [("warning", "the periodic check")]


def test_the_periodic_check_renews_a_live_channel_and_says_nothing(organization, account, empty_sandbox, checks):
    channel = channel_ensure(organization=organization)
    expires_at = channel.expires_at
    channels_renew_due()
    channel.refresh_from_db()
    assert checks == [1]
    assert channel.last_error == ""
    assert channel.is_active
    assert channel.expires_at >= expires_at


def test_a_delta_run_that_finds_unannounced_changes_subscribes_the_lost_channel_again(
    organization, account, empty_sandbox, operator, client
):
    channel = channel_ensure(organization=organization)
    deleted_at_zoho(account, channel)
    seed(empty_sandbox, 5)  # changes the (deleted) channel never announces

    run = sync_run(organization=organization, object="lead")

    assert run.status == SyncRun.Status.OK, run.error
    assert run.inserted == 5
    assert str(channel.channel_id) in sandbox_channels(empty_sandbox)
    assert "notification channel" in run.error
    assert "re-subscribed" in run.error
    channel.refresh_from_db()
    assert channel.is_active
    assert "re-subscribed" in channel.last_error
    client.force_login(operator)
    page = client.get("/ops/sync/").content.decode()
    assert "Notification channels" in page
    assert "re-subscribed" in page


def test_a_delta_run_checks_at_most_once_per_period_and_not_without_changes(
    organization, account, empty_sandbox, checks
):
    seed(empty_sandbox, 3)
    channel_ensure(organization=organization)
    cache.delete(notifications.CHECK_KEY.format(organization_id=organization.pk))
    first = sync_run(organization=organization, object="lead")
    assert first.inserted == 3
    assert checks == [1]
    assert first.error == ""  # still there: nothing to say
    nothing = sync_run(organization=organization, object="lead")
    assert (nothing.inserted, nothing.updated) == (0, 0)
    assert checks == [1]


def test_a_failing_check_never_fails_the_run(organization, account, empty_sandbox, monkeypatch):
    channel_ensure(organization=organization)
    seed(empty_sandbox, 2)

    def broken(self, **kwargs):
        raise RuntimeError("watch renewal down")

    monkeypatch.setattr(ZohoClient, "watch_renew", broken)
    run = sync_run(organization=organization, object="lead")
    assert run.status == SyncRun.Status.OK
    assert run.inserted == 2
