"""Near-real-time mirror: change-feed channels (Zoho Notifications in the sandbox), their callbacks over real HTTP
to a live server, and the mirror rows they update without a delta run."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from django.utils import timezone

from core.models import InboundEvent
from core.webhooks import inbound_event_process
from crm.connections import crm_connection_get
from sync import change_events
from sync.delta import sync_run
from sync.models import CrmPhone, CrmRecord, NotificationChannel, SyncRun, SyncSchedule, SyncState
from sync.notifications import channel_ensure, channels_renew_due
from tests.crm.zoho.conftest import control, crm_account
from tests.factories import OrganizationFactory
from tests.sync.conftest import seed, store

pytestmark = pytest.mark.django_db(transaction=True)

MODULES = ["Accounts", "Contacts", "Deals", "Leads"]


@pytest.fixture
def product(live_server, settings, monkeypatch) -> str:
    """Our app on a live server that the sandbox's callbacks reach; recorded callbacks are processed at once."""
    settings.PUBLIC_BASE_URL = live_server.url
    monkeypatch.setattr(
        change_events, "notification_event_enqueue", lambda event_id: inbound_event_process(event_id=event_id)
    )
    return live_server.url


def sandbox_channels(server: Any) -> dict[str, Any]:
    """The sandbox's live channels, by channel id (in-process: exactly what Zoho holds)."""
    org = next(iter(server.state.crm.orgs.values()))
    return {channel.channel_id: channel for channel in server.state.crm.watch.live(org.org_id)}


def mirrored(organization, zoho_id: str, object: str = "lead") -> CrmRecord | None:
    return CrmRecord.objects.for_organization(organization).filter(object=object, external_id=zoho_id).first()


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def processed() -> InboundEvent:
    """Wait until the sandbox's callback was processed (the event is finished last, after the run)."""
    return wait_for(lambda: InboundEvent.objects.filter(source="zoho.notification", status="processed").first())


def callback(channel: NotificationChannel, *, ids: list[str], operation: str = "update", module: str = "Leads"):
    """A callback body exactly as the sandbox sends it (docs/vendors/zoho-crm.md, Notifications)."""
    return {
        "server_time": int(time.time() * 1000),
        "query_params": {"key": channel.url_secret.reveal()},
        "module": module,
        "resource_uri": f"https://www.zohoapis.com/crm/v8/{module}",
        "ids": ids,
        "operation": operation,
        "channel_id": str(channel.channel_id),
        "token": channel.token.reveal(),
    }


def post(url: str, body: Any, key: str | None) -> requests.Response:
    params = {"key": key} if key is not None else None
    return requests.post(f"{url}/webhooks/zoho/notifications/", params=params, json=body, timeout=10)


def test_ensure_creates_the_channel_in_the_sandbox_for_every_mirrored_module(organization, account, empty_sandbox):
    SyncSchedule.objects.create(organization=organization, connection=account, object="deal", is_enabled=False)
    SyncSchedule.objects.create(organization=organization, connection=account, object="task")
    before = timezone.now()

    channel = channel_ensure(organization=organization)

    assert channel.is_active
    assert channel.last_error == ""
    assert channel.objects_watched == ["account", "contact", "lead", "task"]
    assert channel.connection_id == account.pk
    live = sandbox_channels(empty_sandbox)[str(channel.channel_id)]
    assert sorted(live.events) == ["Accounts", "Contacts", "Leads", "Tasks"]
    assert live.events["Leads"] == {"create", "edit", "delete"}
    assert live.token == channel.token.reveal()
    assert len(channel.token.reveal()) <= 50
    assert (
        live.notify_url == f"https://leadline.test/webhooks/crm/zoho/notifications/?key={channel.url_secret.reveal()}"
    )
    # 23 h: within both documented caps (one day, one week); the sandbox keeps the one-day cap and accepted it.
    assert timedelta(hours=22, minutes=59) < channel.expires_at - before <= timedelta(hours=23, minutes=1)
    assert abs(live.expiry - channel.expires_at) < timedelta(seconds=2)

    again = channel_ensure(organization=organization)  # nothing due: no call to Zoho
    assert again.renewed_at == channel.renewed_at
    assert NotificationChannel.objects.for_organization(organization).count() == 1


def test_an_edit_in_the_sandbox_reaches_the_mirror_within_seconds_without_a_delta_run(
    organization, account, empty_sandbox, product
):
    seed(empty_sandbox, 3)
    channel_ensure(organization=organization)
    lead_id = next(iter(store(empty_sandbox)))
    started = time.monotonic()

    control(empty_sandbox, "PATCH", f"zoho/Leads/{lead_id}", {"Last_Name": "Notified"})

    processed()
    assert time.monotonic() - started < 5
    row = mirrored(organization, lead_id)
    assert row.fields.get("last_name") == "Notified"
    run = SyncRun.objects.for_organization(organization).get()
    assert (run.kind, run.status, run.inserted, run.updated, run.object) == ("notification", "ok", 1, 0, "lead")
    assert run.connection_id == account.pk
    assert run.credits_used > 0
    assert run.finished_at is not None
    assert row.run_id == run.pk
    # Only the edited lead: the other two wait for the delta sync. The watermark was never touched.
    assert CrmRecord.objects.for_organization(organization).count() == 1
    assert not SyncState.objects.for_organization(organization).exists()
    event = InboundEvent.objects.get(source="zoho.notification")
    assert event.organization_id == organization.pk
    assert event.status == "processed"
    assert "token" not in event.payload
    assert event.payload["ids"] == [lead_id]
    assert NotificationChannel.objects.for_organization(organization).get().last_notified_at is not None


def test_a_notification_beside_the_delta_sync_updates_rows_it_already_holds(
    organization, account, empty_sandbox, product
):
    seed(empty_sandbox, 5)
    delta = sync_run(organization=organization, object="lead")
    watermark = SyncState.objects.for_organization(organization).get().watermark
    channel_ensure(organization=organization)
    lead_id = next(iter(store(empty_sandbox)))

    control(empty_sandbox, "PATCH", f"zoho/Leads/{lead_id}", {"Email": "fresh@example.test"})

    processed()
    row = mirrored(organization, lead_id)
    assert row.email == "fresh@example.test"
    run = SyncRun.objects.for_organization(organization).get(kind="notification")
    assert (run.inserted, run.updated) == (0, 1)
    assert row.run_id == run.pk
    assert SyncState.objects.for_organization(organization).get().watermark == watermark
    # The next delta run reads the edit again (its Modified_Time is past the watermark) and rewrites nothing: the
    # notification read the record the way a delta page does (`provider.records`), so the content hash is the same.
    again = sync_run(organization=organization, object="lead")
    assert (again.status, again.inserted, again.updated) == ("ok", 0, 0), again.error
    assert mirrored(organization, lead_id).email == "fresh@example.test"
    assert delta.status == "ok"


def test_a_delete_callback_marks_the_row_deleted(organization, account, empty_sandbox, product):
    seed(empty_sandbox, 2)
    sync_run(organization=organization, object="lead")
    channel_ensure(organization=organization)
    lead_id = next(iter(store(empty_sandbox)))

    control(empty_sandbox, "DELETE", f"zoho/Leads/{lead_id}")

    processed()
    row = mirrored(organization, lead_id)
    assert row.deleted_at is not None
    run = SyncRun.objects.for_organization(organization).get(kind="notification")
    assert (run.status, run.deleted) == ("ok", 1)
    assert row.run_id == run.pk
    assert not CrmPhone.objects.for_organization(organization).filter(external_id=lead_id).exists()


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"key": "not-our-secret"}, 404, "Unknown notification channel"),
        ({"key": None}, 404, "Unknown notification channel"),
        ({"channel_id": "12345"}, 403, "The channel id is not this subscription's"),
        ({"token": "guessed"}, 403, "Wrong channel token"),
        ({"token": None}, 403, "Wrong channel token"),
    ],
)
def test_refused_callbacks_record_nothing(organization, account, empty_sandbox, product, change, status, message):
    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    body = callback(channel, ids=list(store(empty_sandbox)))
    key = change.pop("key", channel.url_secret.reveal())
    body.update(change)

    response = post(product, body, key)

    assert (response.status_code, response.text) == (status, message)
    assert not InboundEvent.objects.exists()
    assert not SyncRun.objects.for_organization(organization).exists()


def test_a_body_that_is_not_json_is_refused(organization, account, empty_sandbox, product):
    channel = channel_ensure(organization=organization)
    response = requests.post(
        f"{product}/webhooks/zoho/notifications/",
        params={"key": channel.url_secret.reveal()},
        data=b"ids=1",
        timeout=10,
    )
    assert (response.status_code, response.text) == (400, "The body is not a JSON object")
    assert not InboundEvent.objects.exists()


def test_a_duplicate_callback_is_processed_once(organization, account, empty_sandbox, product):
    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    lead_id = next(iter(store(empty_sandbox)))
    control(empty_sandbox, "PATCH", f"zoho/Leads/{lead_id}", {"Last_Name": "Once"})
    processed()
    # The sandbox lists a delivery once our answer reached it.
    delivered = wait_for(lambda: control(empty_sandbox, "GET", "outbox?kind=zoho_notification"))
    assert len(delivered) == 1
    assert delivered[0]["status"] == 200

    again = post(product, delivered[0]["body"], channel.url_secret.reveal())  # Zoho re-delivers the same callback

    assert again.status_code == 200
    assert InboundEvent.objects.filter(source="zoho.notification").count() == 1
    assert SyncRun.objects.for_organization(organization).count() == 1


def test_an_inactive_channel_is_refused(organization, account, empty_sandbox, product):
    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    organization.is_active = False
    organization.save()

    channels_renew_due()  # the beat disables the channel of an inactive organization, at Zoho too

    channel.refresh_from_db()
    assert not channel.is_active
    assert channel.expires_at is None
    assert channel.last_error.startswith("disabled:")
    assert sandbox_channels(empty_sandbox) == {}
    response = post(product, callback(channel, ids=list(store(empty_sandbox))), channel.url_secret.reveal())
    assert (response.status_code, response.text) == (404, "The notification channel is not active")
    assert not InboundEvent.objects.exists()


def test_a_removed_zoho_connection_stops_the_channel(organization, account, empty_sandbox):
    channel = channel_ensure(organization=organization)
    account.refresh_token = ""  # what Zoho's oauth.disconnect leaves: the token is revoked, Zoho cannot be asked
    account.save()

    channels_renew_due()

    channel.refresh_from_db()
    assert not channel.is_active
    assert channel.expires_at is None
    assert str(channel.channel_id) in sandbox_channels(empty_sandbox)  # it lapses at Zoho by itself within 23 h


def test_renewal_before_expiry_then_re_enable_after_a_lapse(organization, account, empty_sandbox):
    start = timezone.now()
    channel = channel_ensure(organization=organization)
    first_expiry = channel.expires_at

    control(empty_sandbox, "POST", "clock", {"advance_seconds": 6 * 3600})
    assert channels_renew_due(now=start + timedelta(hours=6)) == 1
    channel.refresh_from_db()
    # 17 h left: no renewal due, but the beat verifies a live channel by renewing it (a subscription the CRM no
    # longer has answers CrmNotFound), which pushes its expiry out.
    assert channel.renewed_at == start + timedelta(hours=6)
    assert abs(channel.expires_at - (first_expiry + timedelta(hours=6))) < timedelta(seconds=2)

    control(empty_sandbox, "POST", "clock", {"advance_seconds": 7 * 3600})
    assert channels_renew_due(now=start + timedelta(hours=13)) == 1
    channel.refresh_from_db()
    renewed = sandbox_channels(empty_sandbox)[str(channel.channel_id)]
    assert channel.renewed_at == start + timedelta(hours=13)
    assert channel.last_error == ""
    assert abs(channel.expires_at - (start + timedelta(hours=36))) < timedelta(seconds=2)
    assert abs(renewed.expiry - channel.expires_at) < timedelta(seconds=2)

    control(empty_sandbox, "POST", "clock", {"advance_seconds": 30 * 3600})  # past the expiry: Zoho dropped it
    assert sandbox_channels(empty_sandbox) == {}
    assert channels_renew_due(now=start + timedelta(hours=43)) == 1
    channel.refresh_from_db()
    assert channel.is_active
    assert abs(channel.expires_at - (start + timedelta(hours=66))) < timedelta(seconds=2)
    assert str(channel.channel_id) in sandbox_channels(empty_sandbox)


def test_a_channel_gone_at_zoho_is_enabled_again_when_the_renewal_is_refused(organization, account, empty_sandbox):
    start = timezone.now()
    channel = channel_ensure(organization=organization)
    empty_sandbox.state.crm.watch.channels.clear()  # removed in Zoho behind our back: PATCH says NOT_SUBSCRIBED

    channel_ensure(organization=organization, now=start + timedelta(hours=12))

    channel.refresh_from_db()
    assert channel.is_active
    assert channel.last_error == ""
    assert str(channel.channel_id) in sandbox_channels(empty_sandbox)


def test_a_zoho_error_on_enable_is_kept_and_the_channel_stays_inactive(organization, account, empty_sandbox):
    SyncSchedule.objects.create(organization=organization, connection=account, object="Notes")  # not watchable

    channel = channel_ensure(organization=organization)

    assert not channel.is_active
    assert channel.last_error.startswith("CrmRejected: zoho: Zoho refused the request: INVALID_DATA invalid data")
    assert "$.watch[0].events[0]" in channel.last_error  # Notes, account, contact, deal, lead
    assert sandbox_channels(empty_sandbox) == {}


def test_an_unknown_object_fails_the_run_and_flags_the_event(organization, account, empty_sandbox, product):
    channel = channel_ensure(organization=organization)

    response = post(
        product, callback(channel, ids=["4150868000001234567"], module="Vendors"), channel.url_secret.reveal()
    )

    assert response.status_code == 200
    run = SyncRun.objects.for_organization(organization).get()
    assert run.status == "failed"
    assert run.error == "object 'Vendors' is not mirrored for this organization"
    assert InboundEvent.objects.get().status == "flagged"


def test_a_verified_callback_without_a_list_of_ids_is_flagged(organization, account, empty_sandbox, product):
    channel = channel_ensure(organization=organization)

    response = post(product, {**callback(channel, ids=[]), "ids": "4150868000001234567"}, channel.url_secret.reveal())

    assert response.status_code == 200  # answered as before: Zoho would retry a refusal that never reads better
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == ("flagged", "unreadable: Nothing to do: no module, operation or ids")
    assert event.payload["ids"] == "4150868000001234567"
    assert "token" not in event.payload
    assert not SyncRun.objects.for_organization(organization).exists()


def test_a_zoho_error_fails_the_run_and_keeps_the_event_for_a_retry(organization, account, empty_sandbox, product):
    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    control(empty_sandbox, "POST", "faults", {"path": "^/crm/v8/coql", "status": 400, "times": 0})

    response = post(product, callback(channel, ids=list(store(empty_sandbox))), channel.url_secret.reveal())

    assert response.status_code == 200  # answered at once; the failure is ours to retry
    run = SyncRun.objects.for_organization(organization).get()
    assert run.status == "failed"
    assert run.error.startswith("CrmRejected")
    event = InboundEvent.objects.get()
    assert event.status == "failed"
    assert event.attempts == 1
    assert not CrmRecord.objects.for_organization(organization).exists()


def test_ids_gone_from_zoho_are_noted_and_the_rest_mirrored(organization, account, empty_sandbox, product):
    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    lead_id = next(iter(store(empty_sandbox)))

    post(product, callback(channel, ids=[lead_id, "4150868000009999999"]), channel.url_secret.reveal())

    run = SyncRun.objects.for_organization(organization).get()
    assert (run.status, run.inserted) == ("ok", 1)
    assert run.error == "1 of 2 ids not found in the CRM: 4150868000009999999"


def test_one_organizations_channel_cannot_write_anothers_rows(organization, account, empty_sandbox, product):
    other = control(empty_sandbox, "POST", "zoho/orgs", {"name": "Bolt Gym", "leads": 3, "seed": 4})
    bolt = OrganizationFactory(slug="bolt", name="Bolt Gym")
    crm_account(
        bolt,
        empty_sandbox,
        name="bolt-zoho",
        is_default=True,
        client_id=other["client_id"],
        client_secret=other["client_secret"],
        refresh_token=other["refresh_token"],
    )
    seed(empty_sandbox, 2)
    ours = channel_ensure(organization=organization)
    theirs = channel_ensure(organization=bolt)
    bolt_ids = list(empty_sandbox.state.crm.orgs[other["org_id"]].modules["Leads"].records)

    # Our token and channel id on their URL, and theirs on ours: refused, nothing recorded.
    assert post(product, callback(ours, ids=bolt_ids), theirs.url_secret.reveal()).status_code == 403
    mixed = {**callback(theirs, ids=bolt_ids), "token": ours.token.reveal()}
    assert post(product, mixed, theirs.url_secret.reveal()).status_code == 403
    assert not InboundEvent.objects.exists()

    # Our own channel naming their record ids reads our Zoho org: nothing of theirs is fetched or written.
    assert post(product, callback(ours, ids=bolt_ids), ours.url_secret.reveal()).status_code == 200
    run = SyncRun.objects.for_organization(organization).get()
    assert (run.status, run.inserted) == ("ok", 0)
    assert run.error.startswith("3 of 3 ids not found")
    assert not CrmRecord.objects.for_organization(bolt).exists()
    assert not CrmRecord.objects.for_organization(organization).exists()

    # Their own callback lands in their mirror only.
    assert post(product, callback(theirs, ids=bolt_ids[:1]), theirs.url_secret.reveal()).status_code == 200
    assert CrmRecord.objects.for_organization(bolt).filter(external_id=bolt_ids[0]).exists()
    assert not CrmRecord.objects.for_organization(organization).exists()
    assert not SyncRun.objects.for_organization(organization).exclude(pk=run.pk).exists()


def test_the_task_on_the_sync_queue_processes_a_recorded_callback(
    organization, account, empty_sandbox, client, monkeypatch, settings
):
    from config.celery import app
    from sync.tasks import notification_event_process_task

    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    published: list[int] = []
    monkeypatch.setattr(change_events, "notification_event_enqueue", published.append)
    lead_id = next(iter(store(empty_sandbox)))

    response = client.post(
        f"/webhooks/zoho/notifications/?key={channel.url_secret.reveal()}",
        data=callback(channel, ids=[lead_id]),
        content_type="application/json",
    )

    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == "queued"  # queued by the view itself: the webhooks' dispatcher leaves it alone
    assert published == [event.pk]
    assert notification_event_process_task(event.pk) == "processed"
    assert mirrored(organization, lead_id) is not None
    assert app.amqp.router.route({}, "sync.tasks.notification_event_process_task")["queue"].name == "sync"
    assert settings.CELERY_BEAT_SCHEDULE["sync-notification-channels"] == {
        "task": "sync.tasks.channels_renew_due_task",
        "schedule": 1800.0,
    }


def past_run(organization, status: str, minutes_ago: float, kind: str = "delta") -> SyncRun:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return SyncRun.objects.for_organization(organization).create(
        organization=organization,
        connection=crm_connection_get(organization=organization),
        object="lead",
        kind=kind,
        started_at=started,
        finished_at=started,
        status=status,
    )


def test_notification_runs_neither_postpone_the_delta_sync_nor_hide_its_failures(organization, account, settings):
    from sync.alerts import sync_alerts_check
    from sync.schedules import schedules_due
    from sync.selectors import sync_status_list

    settings.SYNC_MODULES = ["Leads"]
    settings.SYNC_ALERT_EMAILS = []
    settings.SYNC_ALERT_SLACK_WEBHOOK_URL = ""
    past_run(organization, "ok", 40)
    past_run(organization, "failed", 30)
    past_run(organization, "failed", 16)
    past_run(organization, "ok", 1, kind="notification")

    assert [(item.organization, item.object) for item in schedules_due(now=timezone.now())] == [(organization, "lead")]
    assert [alert.kind for alert in sync_alerts_check(now=timezone.now())] == ["failing"]
    status = sync_status_list(organization=organization, modules=["Leads"])[0]
    assert status.lag_seconds > 39 * 60  # from the last ok delta run, not the notification


def test_a_used_up_allocation_leaves_the_notification_to_the_delta_sync(organization, account, empty_sandbox, product):
    seed(empty_sandbox, 1)
    channel = channel_ensure(organization=organization)
    empty_sandbox.state.config.api_credits_per_day = 0  # the org's 24 h pool is empty

    response = post(product, callback(channel, ids=list(store(empty_sandbox))), channel.url_secret.reveal())

    assert response.status_code == 200
    run = SyncRun.objects.for_organization(organization).get()
    assert run.status == "paused"
    assert run.error.startswith("API allocation used up: left to the next delta run")
    assert InboundEvent.objects.get().status == "processed"  # not retried: it would only spend what frees first
