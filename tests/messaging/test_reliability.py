"""Reliability under the conditions production brings: webhooks in bursts and re-delivered, providers down mid-batch
and back later. Everything goes over real HTTP (live_server for our webhooks, the sandbox for Twilio and Zoho
Voice), signed with twilio's own RequestValidator."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from core import webhooks as core_webhooks
from core.models import InboundEvent
from messaging.models import Message
from messaging.providers.zoho_voice import provider as zv_module
from messaging.services.sending import message_deliver, message_send, messages_retry_due
from sandbox import worlds
from studios.models import PhoneNumber, ProviderAccount

pytestmark = pytest.mark.django_db(transaction=True)

SMS_PATH = "/webhooks/twilio/sms/"
PHONES = [f"+1415555{9300 + n:04d}" for n in range(12)]


def signed_inbound(world, *, sid: str, to: str, sender: str, body: str) -> tuple[str, str]:
    """A genuine inbound-text webhook: (signature, form body), signed over PUBLIC_BASE_URL + path."""
    params = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "FromCountry": "US",
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": worlds.DEMO_TWILIO_ACCOUNT_SID,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(worlds.DEMO_TWILIO_AUTH_TOKEN).compute_signature(world.product_url + SMS_PATH, params)
    return signature, urlencode(params)


# --- 1. a burst of webhooks with re-deliveries ------------------------------------------------------------------
def test_a_burst_of_webhooks_with_redeliveries_stores_each_text_exactly_once(twilio_world, monkeypatch):
    enqueued: list[int] = []
    lock = threading.Lock()

    def collect(event_id, countdown=None):
        with lock:
            enqueued.append(event_id)

    # Record only while the burst lasts; the events are processed afterwards, as a worker pool would.
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", collect)
    ours = [twilio_world.downtown_number.number, twilio_world.uptown_number.number, twilio_world.shared_number.number]
    rng = random.Random(7)
    unique = []
    for i in range(1800):
        sid = f"SM{i:032x}"
        unique.append(
            (sid, signed_inbound(twilio_world, sid=sid, to=ours[i % 3], sender=rng.choice(PHONES), body=f"Hi {i}"))
        )
    redeliveries = rng.sample(unique, 200)  # exact re-deliveries: same body, same signature
    batch = unique + redeliveries
    rng.shuffle(batch)

    local = threading.local()

    def post(item):
        sid, (signature, body) = item
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(
            twilio_world.product_url + SMS_PATH,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
            timeout=30,
        )
        return sid, response.status_code, response.text

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, batch))

    statuses = Counter(status for _, status, _ in results)
    assert statuses == {200: 2000}, [r for r in results if r[1] != 200][:5]
    assert all("<Response></Response>" in text for _, _, text in results)
    events = InboundEvent.objects.filter(source="twilio.sms")
    keys = Counter(events.values_list("idempotency_key", flat=True))
    assert len(keys) == 1800
    assert set(keys) == {sid for sid, _ in unique}
    assert max(keys.values()) == 1
    assert sorted(enqueued) == sorted(events.values_list("id", flat=True))  # each new event enqueued once

    # Process every event, several at a time like a worker pool; a retry outcome is run again, as the task does.
    def process(event_id):
        try:
            for _attempt in range(3):
                outcome = core_webhooks.inbound_event_process(event_id=event_id)
                if outcome != "retry":
                    return outcome
            return outcome
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = Counter(pool.map(process, enqueued))
    assert outcomes == {InboundEvent.Status.PROCESSED: 1800}, outcomes

    inbound = Message.objects.for_organization(twilio_world.organization).filter(direction="inbound")
    sids = Counter(inbound.values_list("provider_message_id", flat=True))
    assert len(sids) == 1800
    assert set(sids) == set(keys)
    assert max(sids.values()) == 1
    assert inbound.count() == 1800
    # Texts to the studios' own numbers are theirs; the shared number's (nobody texted those phones) are unassigned.
    assert inbound.filter(phone_number=twilio_world.downtown_number, studio=twilio_world.downtown).count() == 600
    assert inbound.filter(phone_number=twilio_world.uptown_number, studio=twilio_world.uptown).count() == 600
    assert inbound.filter(phone_number=twilio_world.shared_number, studio=None).count() == 600
    # A re-delivery after processing is still a no-op.
    sid, (signature, body) = redeliveries[0]
    response = requests.post(
        twilio_world.product_url + SMS_PATH,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        timeout=10,
    )
    assert response.status_code == 200
    assert InboundEvent.objects.filter(source="twilio.sms").count() == 1800
    assert inbound.count() == 1800


# --- 2. provider outage mid-batch --------------------------------------------------------------------------------
@pytest.fixture
def twilio_and_voice(twilio_world, settings):
    """The Twilio world plus a Zoho Voice account and number for Downtown (the sandbox's demo Voice number)."""
    cache.clear()
    zv_module._session = None
    settings.TWILIO_TIMEOUT_SECONDS = 3
    settings.ZOHO_VOICE_TIMEOUT_SECONDS = 3
    voice = ProviderAccount.unscoped_objects.create(
        organization=twilio_world.organization,
        name="acme-voice",
        kind="zoho_voice",
        is_default=True,
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        refresh_token=worlds.DEMO_VOICE_REFRESH_TOKEN,
        accounts_url=twilio_world.sandbox_url,
        api_base_url=twilio_world.sandbox_url,
    )
    twilio_world.voice_number = PhoneNumber.unscoped_objects.create(
        organization=twilio_world.organization,
        number=worlds.DEMO_VOICE_NUMBERS[0],
        provider="zoho_voice",
        account=voice,
        studio=twilio_world.downtown,
    )
    yield twilio_world
    zv_module._session = None
    cache.clear()


def test_an_outage_mid_batch_fails_over_then_retries_each_text_exactly_once(twilio_and_voice):
    world = twilio_and_voice
    leads = [f"+1415555{9200 + n:04d}" for n in range(60)]

    def send(lead):
        return message_send(
            studio=world.downtown, to=lead, body=f"Class moved to 7pm ({lead[-4:]})", from_number=world.downtown_number
        )

    # Twilio answers the first 19 sends, then 500s from the 20th on.
    world.fault(path="/Messages.json$", status=500, after=19, times=0)
    batch = [send(lead) for lead in leads[:50]]
    for m in batch:
        m.refresh_from_db()
    assert [m.provider for m in batch] == ["twilio"] * 19 + ["zoho_voice"] * 31
    assert all(m.status == Message.Status.ACCEPTED for m in batch)
    assert [m.failed_over_from for m in batch] == [""] * 19 + ["twilio"] * 31
    assert all(m.from_number == world.voice_number.number for m in batch[19:])

    # Both down: the texts wait as pending with a time for the next attempt.
    world.fault(path="^/rest/json/v1/sms/send", status=503, times=0)
    waiting = [send(lead) for lead in leads[50:]]
    for m in waiting:
        m.refresh_from_db()
    assert {m.status for m in waiting} == {Message.Status.PENDING}
    assert all(m.next_attempt_at is not None and m.next_attempt_at > timezone.now() for m in waiting)
    assert messages_retry_due() == 0  # nothing is due before its backoff elapsed

    # Providers back; the backoff elapses.
    world.clear_faults()
    assert messages_retry_due(now=timezone.now() + timedelta(hours=1)) == 10
    for m in waiting:
        m.refresh_from_db()
    assert {m.status for m in waiting} == {Message.Status.ACCEPTED}
    assert {m.provider for m in waiting} == {"twilio"}
    assert all(m.attempts == 2 and m.next_attempt_at is None for m in waiting)

    # Exactly one delivery per text at the providers, and a second sweep sends nothing.
    def deliveries():
        twilio = Counter(m["to"] for m in world.sandbox_messages(direction="outbound-api"))
        logs = world.control("GET", "/_sandbox/voice/logs", params={"type": "OUTGOING"})
        voice = Counter(log["logid"] for log in logs)
        return twilio, voice

    twilio, voice = deliveries()
    assert twilio == Counter(leads[:19] + leads[50:])
    assert set(voice) == {m.provider_log_id for m in batch[19:]}
    assert set(voice.values()) == {1}
    assert messages_retry_due(now=timezone.now() + timedelta(hours=2)) == 0
    assert deliveries() == (twilio, voice)
    assert Message.objects.for_organization(world.organization).filter(status=Message.Status.PENDING).count() == 0


def voice_logs_to(world, lead: str) -> list[dict]:
    logs = world.control("GET", "/_sandbox/voice/logs", params={"type": "OUTGOING"})
    return [log for log in logs if log["customerNumber"].replace(" ", "") == lead]


def test_a_twilio_timeout_after_twilio_took_the_text_does_not_send_it_twice(twilio_and_voice, settings):
    world = twilio_and_voice
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    lead = "+14155559290"
    # Twilio is slow: it takes the text, but answers after our client gave up.
    world.fault(path="/Messages.json$", method="POST", delay=2, times=1)
    message = message_send(studio=world.downtown, to=lead, body="Still on for 6pm?", from_number=world.downtown_number)
    message.refresh_from_db()
    # No failover on an unknown outcome: the text waits, and the retry asks Twilio first.
    assert (message.status, message.error_code) == (Message.Status.PENDING, "outcome_unknown")
    time.sleep(2.5)  # the slow answer completes at the sandbox's side
    assert message_deliver(message_id=message.pk).outcome == "sent"
    message.refresh_from_db()
    at_twilio = world.sandbox_messages(to=lead)
    assert len(at_twilio) == 1
    assert not voice_logs_to(world, lead)
    assert message.provider_message_id == at_twilio[0]["sid"]


def test_a_twilio_timeout_where_twilio_took_nothing_is_sent_once_on_the_retry(twilio_and_voice, settings):
    world = twilio_and_voice
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    lead = "+14155559291"
    world.fault(path="/Messages.json$", method="POST", delay=1, status=503, times=1)
    message = message_send(studio=world.downtown, to=lead, body="See you at 7", from_number=world.downtown_number)
    message.refresh_from_db()
    assert message.status == Message.Status.PENDING
    time.sleep(1)
    assert message_deliver(message_id=message.pk).outcome == "sent"
    assert len(world.sandbox_messages(to=lead)) + len(voice_logs_to(world, lead)) == 1


def test_a_provider_that_cannot_say_for_minutes_is_replaced_with_a_note(twilio_and_voice, settings):
    world = twilio_and_voice
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    lead = "+14155559292"
    world.fault(path="^/2010-04-01/", delay=1, status=503, times=0)  # sends and lookups time out
    message = message_send(studio=world.downtown, to=lead, body="Class moved to 8", from_number=world.downtown_number)
    for _ in range(4):
        message.refresh_from_db()
        assert (message.status, message.error_code) == (Message.Status.PENDING, "outcome_unknown")
        message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED
    assert (message.provider, message.failed_over_from) == ("zoho_voice", "twilio")
    assert "may have sent it too" in message.error_message
    assert len(voice_logs_to(world, lead)) == 1


def test_with_no_other_provider_an_unanswerable_provider_is_asked_until_it_can_say(twilio_world, settings):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    lead = "+14155559293"
    twilio_world.fault(path="^/2010-04-01/", delay=1, status=503, times=0)
    message = message_send(studio=twilio_world.downtown, to=lead, body="Pool closed today")
    for _ in range(6):
        message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.PENDING, "outcome_unknown")
    twilio_world.clear_faults()
    assert message_deliver(message_id=message.pk).outcome == "sent"
    assert len(twilio_world.sandbox_messages(to=lead)) == 1
