"""Zoho Voice: sends through the sandbox over real HTTP (tokens, outages, refusals), the SMS-log poll (inbound
texts, STOP with its confirmation, statuses forward only), and the dedup rule on both paths (set-based on
PostgreSQL, log by log elsewhere): log id first, else same numbers, direction and text within ±5 minutes."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import requests

from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from messaging.models import Conversation, Message, OptOut
from messaging.providers import (
    ProviderAuthError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from messaging.providers.zoho_voice import provider as zv_module
from messaging.providers.zoho_voice import tasks
from messaging.providers.zoho_voice.logs import ZohoVoiceLog, log_parse
from messaging.providers.zoho_voice.models import ZohoVoicePollCursor
from messaging.providers.zoho_voice.poll import zoho_voice_logs_ingest, zoho_voice_poll
from messaging.providers.zoho_voice.provider import ZohoVoiceProvider, _answer_of
from messaging.services import sending
from sandbox import worlds
from studios.models import PhoneNumber, ProviderAccount
from tests.factories import OrganizationFactory, StudioFactory

ZV_NUMBER = worlds.DEMO_VOICE_NUMBERS[0]  # +14155550103
ZV_LEAD = "+14155559101"
BOTH_PATHS = pytest.mark.parametrize("set_based", [True, False], ids=["set-based", "log-by-log"])


# --- fixtures -------------------------------------------------------------------------------------------------
class ZvWorld:
    def __init__(self, sandbox_url: str):
        self.url = sandbox_url
        self.organization = OrganizationFactory(slug="harbor-co", name="Harbor Co")
        self.studio = StudioFactory(organization=self.organization, slug="harbor", name="Harbor Point")
        self.account = ProviderAccount.unscoped_objects.create(
            organization=self.organization,
            name="harbor-voice",
            kind="zoho_voice",
            is_default=True,
            client_id=worlds.DEMO_CLIENT_ID,
            client_secret=worlds.DEMO_CLIENT_SECRET,
            refresh_token=worlds.DEMO_VOICE_REFRESH_TOKEN,
            accounts_url=sandbox_url,
            api_base_url=sandbox_url,
        )
        self.number = PhoneNumber.unscoped_objects.create(
            organization=self.organization,
            number=ZV_NUMBER,
            provider="zoho_voice",
            account=self.account,
            studio=self.studio,
        )
        self.provider = ZohoVoiceProvider(account=self.account)

    def control(self, method: str, path: str, **kwargs):
        response = requests.request(method, self.url + path, timeout=20, **kwargs)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def lead_texts(self, body: str, *, sender: str = ZV_LEAD) -> dict:
        return self.control("POST", "/_sandbox/voice/inbound", json={"from": sender, "to": ZV_NUMBER, "message": body})

    def sandbox_logs(self, **params) -> list[dict]:
        return self.control("GET", "/_sandbox/voice/logs", params=params)

    def set_status(self, logid: str, status: str) -> None:
        self.control("POST", f"/_sandbox/voice/logs/{logid}/status", json={"status": status})

    def fault(self, **rule) -> None:
        self.control("POST", "/_sandbox/faults", json=rule)

    def token_calls(self) -> int:
        """Calls to Zoho Accounts' token endpoint (the sandbox counts requests per handler)."""
        return self.control("GET", "/_sandbox/counters").get("zoho_accounts.tokens.token", 0)

    def send(self, body: str = "Class at 6?", to: str = ZV_LEAD):
        return self.provider.send(from_number=ZV_NUMBER, to_number=to, body=body, status_callback=None)


@pytest.fixture
def zv_fresh_http(settings):
    """A new HTTP session and token cache per test: the sandbox is a new server (new tokens) every time."""
    cache.clear()
    zv_module._session = None
    yield settings
    zv_module._session = None
    cache.clear()


@pytest.fixture
def zv_world(empty_sandbox, db, zv_fresh_http) -> ZvWorld:
    return ZvWorld(empty_sandbox.url)


@pytest.fixture
def zv_inline_sends(monkeypatch):
    """Queued sends (keyword confirmations) go out at once, in this process."""

    def run(message_id, countdown=None):
        if countdown is None:
            sending.message_deliver(message_id=message_id)

    monkeypatch.setattr(sending, "message_send_enqueue", run)


def zv_message(world: ZvWorld, *, direction="outbound", body="See you at 6", occurred_at=None, log_id=None, **extra):
    """A stored Zoho Voice message on the world's number (as a send or an earlier receive left it)."""
    from messaging.services.threads import contact_get_or_create, conversation_get_or_create

    contact = contact_get_or_create(organization=world.organization, phone=ZV_LEAD)
    conversation = conversation_get_or_create(contact=contact, studio=world.studio)
    outbound = direction == "outbound"
    return Message.unscoped_objects.create(
        organization=world.organization,
        studio=world.studio,
        conversation=conversation,
        contact=contact,
        direction=direction,
        body=body,
        from_number=ZV_NUMBER if outbound else ZV_LEAD,
        to_number=ZV_LEAD if outbound else ZV_NUMBER,
        phone_number=world.number,
        provider="zoho_voice",
        provider_message_id=log_id,
        provider_log_id=log_id,
        status=extra.pop("status", "accepted" if outbound else "received"),
        occurred_at=occurred_at or timezone.now(),
        **extra,
    )


def zv_log(*, direction="outbound", body="See you at 6", at=None, log_id=None, status="accepted") -> ZohoVoiceLog:
    outbound = direction == "outbound"
    return ZohoVoiceLog(
        log_id=log_id or str(uuid.uuid4()),
        direction=direction,
        from_number=ZV_NUMBER if outbound else ZV_LEAD,
        to_number=ZV_LEAD if outbound else ZV_NUMBER,
        body=body,
        occurred_at=at or timezone.now(),
        status=status if outbound else "received",
        zoho_status={"accepted": "IN_QUEUE", "delivered": "DELIVERED", "sent": "SENT"}.get(status, "RECEIVED"),
    )


def zv_messages(world: ZvWorld):
    return Message.objects.for_organization(world.organization)


# --- send -----------------------------------------------------------------------------------------------------
def test_zoho_voice_send_returns_the_log_id_as_both_ids(zv_world):
    result = zv_world.send("Class at 6?")
    [log] = zv_world.sandbox_logs()
    assert (result.provider_message_id, result.provider_log_id) == (log["logid"], log["logid"])
    assert (result.status, result.segments) == ("accepted", 1)
    assert (log["message"], log["customerNumber"], log["messageType"]) == ("Class at 6?", "+1 4155559101", "OUTGOING")


def test_zoho_voice_send_through_the_send_path_records_the_log_id(
    zv_world, zv_inline_sends, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = sending.message_send(studio=zv_world.studio, to=ZV_LEAD, body="Welcome to Harbor Point")
    message.refresh_from_db()
    [log] = zv_world.sandbox_logs()
    assert (message.status, message.provider, message.provider_log_id) == ("accepted", "zoho_voice", log["logid"])
    assert message.provider_message_id == log["logid"]
    assert message.occurred_at is not None


def test_zoho_voice_envelope_status_is_compared_case_insensitively():
    response = requests.Response()
    response.status_code = 200
    response._content = b'{"code": "ZVSMS-2000", "status": "success", "send": {"logid": "x"}}'
    assert _answer_of(response)["send"] == {"logid": "x"}
    response._content = b'{"code": "ZVSMS-4027", "status": "Error", "message": "Bad Request"}'
    with pytest.raises(ProviderRejected):
        _answer_of(response)


def test_zoho_voice_refuses_a_body_over_1000_characters_without_calling_zoho(zv_world):
    with pytest.raises(ProviderRejected, match="at most 1000 characters") as caught:
        zv_world.send("x" * 1001)
    assert caught.value.code == "too_long"
    assert zv_world.sandbox_logs() == []
    assert zv_world.send("x" * 1000).status == "accepted"


def test_zoho_voice_validation_error_is_a_rejection_not_a_failover(zv_world):
    with pytest.raises(ProviderRejected) as caught:
        zv_world.send(to="+442079460000")
    assert caught.value.code == "ZVSMS-4038"
    assert not caught.value.fail_over


def test_zoho_voice_expired_token_is_refreshed_once_and_the_send_goes_through(zv_world):
    zv_world.send("first")  # caches a token
    before = zv_world.token_calls()
    zv_world.control("POST", "/_sandbox/clock", json={"advance_seconds": 3601})  # Zoho expires it; our cache does not
    assert zv_world.send("second").status == "accepted"
    assert zv_world.token_calls() == before + 1
    assert [log["message"] for log in zv_world.sandbox_logs()] == ["first", "second"]


def test_zoho_voice_revoked_access_tokens_are_replaced(zv_world):
    zv_world.send("first")
    zv_world.control("POST", "/_sandbox/zoho/revoke-tokens", json={})
    assert zv_world.send("second").status == "accepted"


def test_zoho_voice_revoked_refresh_token_is_an_auth_error(zv_world):
    zv_world.send("first")
    zv_world.control("POST", f"/oauth/v2/token/revoke?token={worlds.DEMO_VOICE_REFRESH_TOKEN}")
    with pytest.raises(ProviderAuthError) as caught:
        zv_world.send("second")
    assert caught.value.fail_over
    assert not caught.value.retryable


def test_zoho_voice_second_401_is_an_auth_error(zv_world):
    body = {"status": "ERROR", "code": "INVALID_TOKEN", "message": "invalid oauth token"}
    zv_world.fault(path="^/rest/json/v1/sms/send", status=401, body=body, times=2)
    with pytest.raises(ProviderAuthError):
        zv_world.send()
    assert zv_world.sandbox_logs() == []


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"status": 500, "body": {"status": "ERROR", "code": "500", "message": "failed"}}, ProviderUnavailable),
        ({"status": 503}, ProviderUnavailable),
        ({"status": 429, "body": {"status": "ERROR", "code": "429", "message": "slow down"}}, ProviderRateLimited),
    ],
    ids=["500", "503-not-json", "429"],
)
def test_zoho_voice_outage_is_retryable_and_fails_over(zv_world, settings, rule, error):
    zv_world.send("warm the token")
    settings.ZOHO_VOICE_TIMEOUT_SECONDS = 0.5
    zv_module._session = None  # the session reads its timeout when it is made
    zv_world.fault(path="^/rest/json/v1/sms/send", **rule)
    with pytest.raises(error) as caught:
        zv_world.send()
    assert caught.value.retryable
    assert caught.value.fail_over


def test_a_zoho_voice_read_timeout_on_a_send_is_an_unknown_outcome_never_a_failover(zv_world, settings):
    zv_world.send("warm the token")
    settings.ZOHO_VOICE_TIMEOUT_SECONDS = 0.5
    zv_module._session = None
    zv_world.fault(path="^/rest/json/v1/sms/send", delay=3)
    with pytest.raises(ProviderOutcomeUnknown) as caught:
        zv_world.send()
    assert caught.value.retryable
    assert not caught.value.fail_over


# --- poll -----------------------------------------------------------------------------------------------------
def test_zoho_voice_poll_brings_in_an_inbound_text_once(zv_world):
    zv_world.lead_texts("Is the 6pm class full?")
    first = zoho_voice_poll(phone_number=zv_world.number)
    [message] = zv_messages(zv_world)
    assert (message.direction, message.status, message.body) == ("inbound", "received", "Is the 6pm class full?")
    assert (message.from_number, message.to_number, message.studio) == (ZV_LEAD, ZV_NUMBER, zv_world.studio)
    assert message.provider_log_id == zv_world.sandbox_logs()[0]["logid"]
    assert first.ingest.inserted == 1
    conversation = Conversation.objects.for_organization(zv_world.organization).get()
    assert conversation.unread_count == 1
    cursor = ZohoVoicePollCursor.unscoped_objects.get(phone_number=zv_world.number)
    assert cursor.last_seen_at == message.occurred_at
    assert cursor.last_error == ""

    again = zoho_voice_poll(phone_number=zv_world.number)
    assert (again.ingest.matched_by_log_id, again.ingest.inserted) == (1, 0)
    assert zv_messages(zv_world).count() == 1


def test_zoho_voice_poll_pages_until_a_short_page(zv_world, monkeypatch):
    monkeypatch.setattr("messaging.providers.zoho_voice.poll.LOGS_PAGE_SIZE", 2)
    for n in range(5):
        zv_world.lead_texts(f"text {n}")
    result = zoho_voice_poll(phone_number=zv_world.number)
    assert (result.pages, result.fetched, result.ingest.inserted) == (3, 5, 5)
    assert sorted(zv_messages(zv_world).values_list("body", flat=True)) == [f"text {n}" for n in range(5)]


def test_zoho_voice_stop_opts_out_and_sends_the_confirmation(
    zv_world, zv_inline_sends, django_capture_on_commit_callbacks
):
    zv_world.lead_texts("stop")
    with django_capture_on_commit_callbacks(execute=True):
        result = zoho_voice_poll(phone_number=zv_world.number)
    assert result.ingest.keywords == 1
    opt_out = OptOut.objects.for_organization(zv_world.organization).get(phone=ZV_LEAD)
    assert opt_out.is_opted_out
    confirmation = zv_messages(zv_world).get(direction="outbound")
    assert confirmation.kind == "keyword_reply"
    assert "unsubscribed" in confirmation.body
    outgoing = zv_world.sandbox_logs(type="OUTGOING")
    assert [log["logid"] for log in outgoing] == [confirmation.provider_log_id]
    # The next poll sees the confirmation's log and the STOP again: nothing new, no second confirmation.
    again = zoho_voice_poll(phone_number=zv_world.number)
    assert (again.ingest.matched_by_log_id, again.ingest.inserted, again.ingest.keywords) == (2, 0, 0)
    assert len(zv_world.sandbox_logs(type="OUTGOING")) == 1


def test_zoho_voice_poll_moves_statuses_forward_only(zv_world, zv_inline_sends, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = sending.message_send(studio=zv_world.studio, to=ZV_LEAD, body="Your class is confirmed")
    message.refresh_from_db()
    zv_world.set_status(message.provider_log_id, "DELIVERED")
    assert zoho_voice_poll(phone_number=zv_world.number).ingest.statuses_moved == 1
    message.refresh_from_db()
    assert (message.status, message.delivered_at is not None) == ("delivered", True)
    zv_world.set_status(message.provider_log_id, "SENT")  # a late, older status
    assert zoho_voice_poll(phone_number=zv_world.number).ingest.statuses_moved == 0
    message.refresh_from_db()
    assert message.status == "delivered"


def test_zoho_voice_poll_records_an_outage_on_the_cursor_and_keeps_its_place(zv_world):
    zv_world.lead_texts("hello")
    zoho_voice_poll(phone_number=zv_world.number)
    seen = ZohoVoicePollCursor.unscoped_objects.get(phone_number=zv_world.number).last_seen_at
    zv_world.fault(path="^/rest/json/v1/sms/logs", status=500, body={"status": "ERROR", "code": "500"})
    with pytest.raises(ProviderUnavailable):
        zoho_voice_poll(phone_number=zv_world.number)
    cursor = ZohoVoicePollCursor.unscoped_objects.get(phone_number=zv_world.number)
    assert cursor.last_error
    assert cursor.last_seen_at == seen


def test_zoho_voice_log_parse_normalizes_zohos_display_numbers(zv_world):
    raw = {
        "logid": "abc",
        "messageType": "INCOMING",
        "senderId": "+1 4155550103",
        "customerNumber": "+1 (415) 555-9101",
        "message": "hi",
        "submittedTime": 1_700_000_000_000,
        "status": "RECEIVED",
    }
    log = log_parse(raw, our_number=ZV_NUMBER)
    assert (log.from_number, log.to_number, log.direction) == (ZV_LEAD, ZV_NUMBER, "inbound")
    assert log.occurred_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert log_parse({**raw, "senderId": "+1 4155550199"}, our_number=ZV_NUMBER) is None


# --- dedup ----------------------------------------------------------------------------------------------------
@BOTH_PATHS
@pytest.mark.parametrize(
    ("offset", "change", "matches"),
    [
        (timedelta(minutes=4, seconds=59), {}, True),
        (-timedelta(minutes=4, seconds=59), {}, True),
        (timedelta(minutes=5, seconds=1), {}, False),
        (timedelta(seconds=10), {"body": "See you at 7"}, False),
        (timedelta(seconds=10), {"direction": "inbound"}, False),
    ],
    ids=["just-inside-after", "just-inside-before", "just-outside", "different-text", "different-direction"],
)
def test_zoho_voice_log_matches_a_message_without_log_id_within_five_minutes(
    zv_world, set_based, offset, change, matches
):
    sent_at = timezone.now() - timedelta(minutes=30)
    stored = zv_message(zv_world, occurred_at=sent_at, status="pending")
    log = zv_log(at=sent_at + offset, **change)
    result = zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[log], set_based=set_based)
    stored.refresh_from_db()
    if matches:
        assert (result.matched_by_text, result.inserted) == (1, 0)
        assert stored.provider_log_id == log.log_id == stored.provider_message_id
        assert stored.status == "accepted"  # the lost send did reach Zoho: the retry must not send it again
        assert zv_messages(zv_world).count() == 1
    else:
        assert (result.matched_by_text, result.inserted) == (0, 1)
        assert stored.provider_log_id is None
        assert zv_messages(zv_world).count() == 2


@BOTH_PATHS
def test_provider_log_id_already_stored_is_an_update_not_an_insert(zv_world, set_based):
    stored = zv_message(zv_world, log_id="log-1", status="accepted")
    log = zv_log(log_id="log-1", status="delivered", at=stored.occurred_at + timedelta(hours=1))
    result = zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[log, log], set_based=set_based)
    assert (result.matched_by_log_id, result.inserted, result.statuses_moved) == (1, 0, 1)
    stored.refresh_from_db()
    assert stored.status == "delivered"
    assert zv_messages(zv_world).count() == 1


@BOTH_PATHS
def test_zoho_voice_identical_texts_pair_one_log_with_one_message(zv_world, set_based):
    at = timezone.now() - timedelta(minutes=20)
    first = zv_message(zv_world, body="ok", occurred_at=at, status="pending")
    second = zv_message(zv_world, body="ok", occurred_at=at + timedelta(minutes=2), status="pending")
    logs = [zv_log(body="ok", at=at + timedelta(seconds=5)), zv_log(body="ok", at=at + timedelta(minutes=2, seconds=5))]
    result = zoho_voice_logs_ingest(phone_number=zv_world.number, logs=logs, set_based=set_based)
    first.refresh_from_db()
    second.refresh_from_db()
    assert result.matched_by_text == 2
    assert result.inserted == 0
    assert (first.provider_log_id, second.provider_log_id) == (logs[0].log_id, logs[1].log_id)
    third = zv_log(body="ok", at=at + timedelta(minutes=1))  # both messages are taken now: a new text
    assert zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[third], set_based=set_based).inserted == 1


@BOTH_PATHS
def test_zoho_voice_ingest_moves_statuses_forward_only(zv_world, set_based):
    stored = zv_message(zv_world, log_id="log-2", status="delivered")
    result = zoho_voice_logs_ingest(
        phone_number=zv_world.number, logs=[zv_log(log_id="log-2", status="sent")], set_based=set_based
    )
    stored.refresh_from_db()
    assert (result.statuses_moved, stored.status) == (0, "delivered")


@BOTH_PATHS
def test_zoho_voice_unmatched_outgoing_log_is_imported_into_the_thread(zv_world, set_based):
    log = zv_log(body="Sent from the Zoho Voice app", status="delivered")
    assert zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[log], set_based=set_based).inserted == 1
    message = zv_messages(zv_world).get()
    assert (message.direction, message.status, message.studio, message.kind) == (
        "outbound",
        "delivered",
        zv_world.studio,
        "manual",
    )


@BOTH_PATHS
def test_zoho_voice_text_to_a_shared_number_nobody_can_route_waits_unassigned(zv_world, set_based):
    StudioFactory(organization=zv_world.organization, slug="uptown", name="Uptown")
    zv_world.number.studio = None
    zv_world.number.save()
    log = zv_log(direction="inbound", body="Which studio is this?")
    assert zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[log], set_based=set_based).inserted == 1
    message = zv_messages(zv_world).get()
    assert message.studio is None
    conversation = message.conversation
    assert conversation.studio is None
    assert conversation.needs_attention
    assert "shared number" in conversation.attention_reason
    assert conversation.unread_count == 1


@BOTH_PATHS
def test_zoho_voice_text_to_a_shared_number_goes_to_the_studio_that_texted_last(zv_world, set_based):
    uptown = StudioFactory(organization=zv_world.organization, slug="uptown", name="Uptown")
    zv_world.number.studio = None
    zv_world.number.save()
    earlier = zv_message(zv_world, log_id="log-up", occurred_at=timezone.now() - timedelta(hours=2))
    Message.unscoped_objects.filter(pk=earlier.pk).update(studio=uptown)
    log = zv_log(direction="inbound", body="Thanks!")
    zoho_voice_logs_ingest(phone_number=zv_world.number, logs=[log], set_based=set_based)
    reply = zv_messages(zv_world).get(provider_log_id=log.log_id)
    assert reply.studio == uptown
    assert reply.conversation.studio == uptown


@pytest.mark.django_db(transaction=True)
@BOTH_PATHS
def test_zoho_voice_concurrent_pollers_store_each_log_exactly_once(empty_sandbox, zv_fresh_http, set_based):
    world = ZvWorld(empty_sandbox.url)
    start = timezone.now() - timedelta(hours=1)
    logs = [
        zv_log(direction="inbound", body=f"hello {n}", at=start + timedelta(seconds=n), log_id=f"race-{n:03d}")
        for n in range(60)
    ]
    barrier = threading.Barrier(3)
    results, errors = [], []

    def poller():
        try:
            barrier.wait(timeout=10)
            results.append(zoho_voice_logs_ingest(phone_number=world.number, logs=logs, set_based=set_based))
        except Exception as exc:  # reported below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poller) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    stored = list(zv_messages(world).values_list("provider_log_id", flat=True))
    assert sorted(stored) == [log.log_id for log in logs]
    new_ids = [message_id for result in results for message_id in result.new_inbound_ids]
    assert len(new_ids) == len(set(new_ids)) == 60  # side effects ran once per text, whoever won
    assert sum(r.inserted for r in results) == 60
    conversation = Conversation.objects.for_organization(world.organization).get()
    assert conversation.unread_count == 60


def test_zoho_voice_match_plans_probe_the_indexes(zv_world):
    from messaging.providers.zoho_voice.dedup import match_plan_explain

    plans = match_plan_explain(phone_number=zv_world.number, logs=[zv_log(), zv_log(direction="inbound")])
    assert set(plans) == {"match by log id", "±5 minute candidates"}
    assert zv_messages(zv_world).count() == 0  # rolled back


# --- tasks ----------------------------------------------------------------------------------------------------
def test_zoho_voice_poll_task_skips_while_another_poll_holds_the_lock(zv_world):
    key = tasks.ZOHO_VOICE_POLL_LOCK.format(phone_number_id=zv_world.number.pk)
    cache.set(key, "someone-else", timeout=60)
    assert tasks.zoho_voice_poll_task(zv_world.number.pk)["skipped"] == "another poll is running"
    cache.delete(key)
    zv_world.lead_texts("hi")
    assert tasks.zoho_voice_poll_task(zv_world.number.pk)["inserted"] == 1
    assert cache.get(key) is None


def test_zoho_voice_poll_all_fans_out_one_task_per_active_number(zv_world, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.zoho_voice_poll_task, "delay", queued.append)
    PhoneNumber.unscoped_objects.create(
        organization=zv_world.organization,
        number="+14155559999",
        provider="zoho_voice",
        account=zv_world.account,
        studio=zv_world.studio,
        is_active=False,
    )
    assert tasks.zoho_voice_poll_all_task() == 1
    assert queued == [zv_world.number.pk]


def test_the_poll_voice_command_runs_the_poll_of_every_polled_number_and_no_other(zv_world, tenant_a):
    zv_world.lead_texts("hi")
    out = StringIO()
    call_command("messaging", "poll-voice", stdout=out)
    assert out.getvalue().startswith(f"{zv_world.number.number}: ")
    assert "'inserted': 1" in out.getvalue()
    assert tenant_a.number.number not in out.getvalue()  # a Twilio number: its texts come by webhook
    with pytest.raises(CommandError, match="No active number"):
        call_command("messaging", "poll-voice", "--number", tenant_a.number.number, stdout=StringIO())
