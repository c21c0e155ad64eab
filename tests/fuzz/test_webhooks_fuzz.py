"""Hypothesis against every webhook: Twilio inbound texts and status callbacks signed with the tenant's token over
generated parameters (NUL, any unicode, empty and missing fields, bodies up to and past the size limit), Zoho
new-lead calls (JSON, form, raw bytes, odd query strings) and Zoho notifications (right and wrong channel, token,
URL secret; any JSON). Never a 5xx; a well-signed text with its fields is recorded exactly once and its processing
does not fail on what it contains. Each example runs in a savepoint rolled back after it. Derandomized and bounded
(README, "Tests")."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django.conf import settings as django_settings

from core import webhooks as core_webhooks
from core.models import InboundEvent
from core.webhooks import inbound_event_process, nul_free
from tests.fuzz.support import (
    FORM,
    FUZZ,
    NOTIFICATIONS,
    SMS,
    STATUS,
    TEXT,
    lead_webhook,
    live_channel,
    rolled_back,
    sms_params,
    status_params,
    twilio_post,
    twilio_signed,
)

pytestmark = pytest.mark.django_db

FIELDS = ("MessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "MessageStatus", "ErrorCode", "OptOutType")


@pytest.fixture(autouse=True)
def _no_enqueue(monkeypatch):
    monkeypatch.setattr(core_webhooks, "inbound_event_enqueue", lambda event_id: None)


@pytest.fixture
def acme(tenant_a):
    twilio_signed(tenant_a)
    return tenant_a


@pytest.fixture
def lead_url(acme):
    return lead_webhook(acme)


@pytest.fixture
def channel(acme):
    return live_channel(acme)


@st.composite
def twilio_changes(draw) -> dict:
    """Fields replaced (any text), removed (None) or added, and sometimes a body near or past the size limit."""
    changes = draw(st.dictionaries(st.sampled_from(FIELDS), st.none() | TEXT, max_size=4))
    changes.update(draw(st.dictionaries(TEXT, TEXT, max_size=3)))
    if draw(st.integers(0, 4)) == 0:
        limit = django_settings.WEBHOOK_MAX_BODY_BYTES
        size = draw(st.sampled_from([limit - 400, limit // 2, limit + 1, limit * 2]))
        changes["Body"] = draw(st.sampled_from(["x", "\x00", "é", "\U0001f600"])) * max(size // 4, 1)
    return changes


def well_formed(params: dict) -> bool:
    return all(params.get(name) for name in ("MessageSid", "From", "To"))


@given(changes=twilio_changes())
@FUZZ
def test_a_signed_text_is_never_a_5xx_and_a_well_formed_one_is_recorded_once(client, acme, changes):
    def check():
        params = sms_params(acme)
        params.update(changes)
        params = {key: value for key, value in params.items() if value is not None}
        response = twilio_post(client, SMS, params)
        assert response.status_code in (200, 400, 403, 413), response.content[:300]
        events = list(InboundEvent.objects.filter(source="twilio.sms"))
        too_large = len(urlencode(params)) > django_settings.WEBHOOK_MAX_BODY_BYTES
        ours = params.get("To") == acme.number.number
        if well_formed(params) and not too_large and (ours or params.get("AccountSid") == acme.twilio.account_sid):
            assert response.status_code == 200
        if response.status_code == 200:
            assert len(events) == 1
            assert events[0].idempotency_key == nul_free(params["MessageSid"])[:200]
            assert inbound_event_process(event_id=events[0].pk) in ("processed", "flagged")
        else:
            assert events == []

    rolled_back(check)


@given(changes=twilio_changes())
@FUZZ
def test_a_signed_status_callback_is_never_a_5xx(client, acme, changes):
    def check():
        params = status_params(acme)
        params.update(changes)
        params = {key: value for key, value in params.items() if value is not None}
        response = twilio_post(client, STATUS, params)
        assert response.status_code in (200, 400, 403, 413), response.content[:300]
        events = InboundEvent.objects.filter(source="twilio.status")
        assert events.count() == (1 if response.status_code == 200 else 0)

    rolled_back(check)


@given(params=st.dictionaries(TEXT, TEXT, max_size=6), signature=TEXT, path=st.sampled_from([SMS, STATUS]))
@FUZZ
def test_an_unsigned_or_forged_twilio_call_is_refused(client, acme, params, signature, path):
    def check():
        response = client.generic(
            "POST", path, urlencode(params), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature.replace("\n", "")
        )
        assert response.status_code in (400, 403), response.content[:300]
        assert not InboundEvent.objects.exists()

    rolled_back(check)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
QUERY = st.dictionaries(TEXT, TEXT, max_size=3)
LEAD_BODIES = st.one_of(
    st.tuples(
        st.dictionaries(st.sampled_from(["lead_id", "id", "name"]) | TEXT, JSON_VALUES, max_size=5).map(
            lambda value: json.dumps(value).encode()
        ),
        st.just("application/json"),
    ),
    st.tuples(st.dictionaries(TEXT, TEXT, max_size=5).map(lambda value: urlencode(value).encode()), st.just(FORM)),
    st.tuples(
        st.binary(max_size=300),
        st.sampled_from(["application/json", FORM, "text/plain", "multipart/form-data; boundary=x", "", "a/b\x00"]),
    ),
)


@given(body=LEAD_BODIES, query=QUERY)
@FUZZ
def test_a_lead_webhook_is_never_a_5xx_and_is_recorded_once(client, lead_url, body, query):
    url = lead_url

    def check():
        content, content_type = body
        full = f"{url}?{urlencode(query)}" if query else url
        response = client.generic("POST", full, content, content_type=content_type)
        assert response.status_code in (200, 400), response.content[:300]
        if response.status_code == 200:
            event = InboundEvent.objects.get(source="zoho.lead")
            assert inbound_event_process(event_id=event.pk) in ("processed", "flagged")

    rolled_back(check)


@given(
    genuine=st.booleans(),
    body=st.fixed_dictionaries(
        {},
        optional={
            "channel_id": JSON_VALUES,
            "token": st.sampled_from(["\x00", "ours\x00"]) | JSON_VALUES,
            "ids": st.lists(TEXT | st.integers(), max_size=4),
            "module": TEXT,
            "operation": TEXT,
            "server_time": st.integers() | TEXT,
        },
    ),
    extra=st.dictionaries(TEXT, JSON_VALUES, max_size=3),
    key=st.sampled_from(["ours\x00", ""]) | TEXT,
    raw=st.none() | st.binary(max_size=200),
)
@FUZZ
def test_a_zoho_notification_is_never_a_5xx_and_a_genuine_one_is_recorded_once(
    client, channel, genuine, body, extra, key, raw
):
    secret, token = str(channel.url_secret), str(channel.token)

    def check():
        payload = {**extra, **body}
        query = {"key": key.replace("ours", secret)}
        if isinstance(payload.get("token"), str):
            payload["token"] = payload["token"].replace("ours", token)
        if genuine:  # our URL secret, channel id and token around whatever else was generated
            payload.update(channel_id=channel.channel_id, token=token)
            query["key"] = secret
        content = json.dumps(payload).encode() if genuine or raw is None else raw
        response = client.generic(
            "POST", f"{NOTIFICATIONS}?{urlencode(query)}", content, content_type="application/json"
        )
        assert response.status_code in (200, 400, 403, 404), response.content[:300]
        if genuine:
            assert response.status_code == 200
        events = InboundEvent.objects.filter(source="zoho.notification")
        assert events.count() == (1 if response.status_code == 200 else 0)

    rolled_back(check)
