"""The Zoho Voice emulator: send and logs in Zoho's shapes (spaced numbers, epoch-ms times, `message`), OAuth
scopes, filters, injected inbound texts and status changes, and no opt-out handling of its own."""

import re
import uuid
from datetime import UTC, datetime

import pytest
import requests

from sandbox import worlds
from sandbox.zoho_accounts import RefreshToken
from tests.sandbox.twilio_support import Receiver

VOICE_NUMBER = worlds.DEMO_VOICE_NUMBERS[0]  # +14155550103
LEAD, OTHER_LEAD = "+14155550123", "+14155550124"
SEND, LOGS = "/rest/json/v1/sms/send", "/rest/json/v1/sms/logs"


def token_for(sandbox, refresh_token=worlds.DEMO_VOICE_REFRESH_TOKEN):
    accounts = sandbox.state.accounts
    return accounts.issue_access_token(accounts.refresh_tokens[refresh_token]).token


def call(sandbox, method, path, token, **kwargs):
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "Accept": "application/json"}
    return requests.request(method, f"{sandbox.url}{path}", headers=headers, timeout=10, **kwargs)


def send(sandbox, token, message="Hi from Harbor Point", customer=LEAD, **extra):
    return call(
        sandbox,
        "POST",
        SEND,
        token,
        json={"senderId": VOICE_NUMBER, "customerNumber": customer, "message": message, **extra},
    )


def inbound(sandbox, from_, message, to=VOICE_NUMBER):
    response = requests.post(
        f"{sandbox.url}/_sandbox/voice/inbound", json={"from": from_, "to": to, "message": message}, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()


def logs(sandbox, token, **params):
    response = call(sandbox, "GET", LOGS, token, params=params)
    assert response.status_code == 200, response.text
    return response.json()["smsLogQuery"]


@pytest.fixture
def token(empty_sandbox):
    return token_for(empty_sandbox)


def test_a_send_answers_zohos_success_envelope(empty_sandbox, token):
    before = int(datetime.now(UTC).timestamp() * 1000)
    response = send(empty_sandbox, token)
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["status"]) == ("ZVSMS-2000", "SUCCESS")
    sent = body["send"]
    assert set(sent) == {
        "multipartCount",
        "country",
        "submittedTime",
        "customerNumber",
        "message",
        "userName",
        "customerName",
        "senderId",
        "messageType",
        "sentTime",
        "logid",
        "email",
        "status",
    }
    assert sent["customerNumber"] == "+1 4155550123"  # a space after the country code
    assert sent["senderId"] == VOICE_NUMBER
    assert (sent["messageType"], sent["status"], sent["country"], sent["multipartCount"]) == (
        "OUTGOING",
        "IN_QUEUE",
        "us",
        1,
    )
    assert isinstance(sent["submittedTime"], int)
    assert before <= sent["submittedTime"] <= before + 60_000
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", sent["sentTime"])
    assert uuid.UUID(sent["logid"])
    assert (sent["userName"], sent["email"]) == ("Morgan", "manager@demo.leadline.test")


def test_a_send_to_several_numbers_logs_one_message_each(empty_sandbox, token):
    body = send(empty_sandbox, token, customer=f"{LEAD}, 14155550124").json()
    assert [s["customerNumber"] for s in body["send"]] == ["+1 4155550123", "+1 4155550124"]
    assert len(logs(empty_sandbox, token)) == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"customerNumber": LEAD, "message": "no sender"}, "ZVSMS-4027"),
        ({"senderId": VOICE_NUMBER, "message": "no customer"}, "ZVSMS-4027"),
        ({"senderId": VOICE_NUMBER, "customerNumber": LEAD}, "ZVSMS-4027"),
        ({"senderId": VOICE_NUMBER, "customerNumber": LEAD, "message": "x" * 1001}, "ZVSMS-4027"),
        (
            {
                "senderId": VOICE_NUMBER,
                "customerNumber": ",".join([f"+1415555012{i}" for i in range(10)] + ["+14155550140"]),
                "message": "x",
            },
            "ZVSMS-4027",
        ),
        ({"senderId": "+14155550109", "customerNumber": LEAD, "message": "not our number"}, "ZVSMS-4027"),
        ({"senderId": VOICE_NUMBER, "customerNumber": "+1555", "message": "bad number"}, "ZVSMS-4027"),
        ({"senderId": VOICE_NUMBER, "customerNumber": "+442079460000", "message": "to London"}, "ZVSMS-4038"),
    ],
    ids=[
        "no-sender",
        "no-customer",
        "no-message",
        "message-over-1000",
        "eleven-numbers",
        "sender-not-ours",
        "invalid-number",
        "unsupported-country",
    ],
)
def test_an_invalid_send_fails_in_zohos_error_envelope(empty_sandbox, token, payload, code):
    response = call(empty_sandbox, "POST", SEND, token, json=payload)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["code"]) == ("ERROR", code)
    assert body["message"]
    assert logs(empty_sandbox, token) == []


def test_a_1000_character_message_to_ten_numbers_is_accepted(empty_sandbox, token):
    numbers = ",".join(f"+1415555012{i}" for i in range(10))
    assert send(empty_sandbox, token, message="x" * 1000, customer=numbers).json()["status"] == "SUCCESS"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "AUTHENTICATION_FAILURE"),
        ("Bearer {token}", "AUTHENTICATION_FAILURE"),
        ("Zoho-oauthtoken 1000.nope", "AUTHENTICATION_FAILURE"),
    ],
    ids=["no-header", "bearer-scheme", "unknown-token"],
)
def test_a_call_without_a_valid_zoho_token_is_refused(empty_sandbox, token, header, code):
    headers = {"Authorization": header.format(token=token)} if header else {}
    response = requests.post(f"{empty_sandbox.url}{SEND}", json={}, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == code


def test_an_expired_token_is_refused_with_invalid_token(empty_sandbox, token):
    requests.post(f"{empty_sandbox.url}/_sandbox/clock", json={"advance_seconds": 3601}, timeout=5)
    response = send(empty_sandbox, token)
    assert response.status_code == 401
    assert response.json() == {"status": "ERROR", "code": "INVALID_TOKEN", "message": "invalid oauth token"}


def test_a_crm_token_lacks_the_voice_scopes(empty_sandbox):
    crm_token = token_for(empty_sandbox, worlds.DEMO_CRM_REFRESH_TOKEN)
    assert send(empty_sandbox, crm_token).json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert call(empty_sandbox, "GET", LOGS, crm_token).json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_logs_show_both_directions_newest_first_in_zohos_shape(empty_sandbox, token):
    send(empty_sandbox, token, message="Class at 6?")
    inbound(empty_sandbox, LEAD, "Yes, see you")
    incoming, outgoing = logs(empty_sandbox, token)
    assert (incoming["messageType"], incoming["message"], incoming["status"]) == (
        "INCOMING",
        "Yes, see you",
        "RECEIVED",
    )
    assert (outgoing["messageType"], outgoing["message"]) == ("OUTGOING", "Class at 6?")
    for log in (incoming, outgoing):
        assert log["senderId"] == "+1 4155550103"
        assert log["customerNumber"] == "+1 4155550123"
        assert isinstance(log["submittedTime"], int)
        assert "createdTime" not in log
        assert "messageContent" not in log
        assert uuid.UUID(log["logid"])
        assert uuid.UUID(log["messageId"])
        assert {"statusDescription", "multipartCount", "country", "isMMS", "sentTime", "zsoid"} <= set(log)
    assert incoming["submittedTime"] >= outgoing["submittedTime"]


def test_logs_filter_by_type_number_sender_and_page_by_index(empty_sandbox, token):
    send(empty_sandbox, token, message="to lead")
    send(empty_sandbox, token, message="to other", customer=OTHER_LEAD)
    inbound(empty_sandbox, LEAD, "from lead")
    assert [log["message"] for log in logs(empty_sandbox, token, messageType="Incoming")] == ["from lead"]
    assert [log["message"] for log in logs(empty_sandbox, token, messageType="Outgoing")] == ["to other", "to lead"]
    assert len(logs(empty_sandbox, token, messageType="All")) == 3
    assert [log["message"] for log in logs(empty_sandbox, token, customerNumber="14155550123")] == [
        "from lead",
        "to lead",
    ]
    assert [log["message"] for log in logs(empty_sandbox, token, customerNumber="+1 4155550124")] == ["to other"]
    assert len(logs(empty_sandbox, token, longCode="+1 4155550103")) == 3
    assert logs(empty_sandbox, token, longCode="14155550100") == []
    assert [log["message"] for log in logs(empty_sandbox, token, **{"from": 1, "size": 1})] == ["to other"]
    assert logs(empty_sandbox, token, **{"from": 3, "size": 100}) == []


@pytest.mark.parametrize(
    ("from_date", "to_date"),
    [("20250101 10:00", "20250101 10:30"), ("2025-01-01 10:00:00", "2025-01-01 10:30:00")],
    ids=["documented-format", "sample-format"],
)
def test_logs_filter_by_date_in_both_documented_formats(empty_sandbox, token, from_date, to_date):
    clock = f"{empty_sandbox.url}/_sandbox/clock"
    requests.post(clock, json={"freeze_at": "2025-01-01T09:00:00+00:00"}, timeout=5)
    send(empty_sandbox, token, message="too early")
    requests.post(clock, json={"advance_seconds": 3600}, timeout=5)
    send(empty_sandbox, token, message="in range")
    requests.post(clock, json={"advance_seconds": 3600}, timeout=5)
    send(empty_sandbox, token, message="too late")
    found = logs(empty_sandbox, token, fromDate=from_date, toDate=to_date)
    assert [log["message"] for log in found] == ["in range"]
    assert found[0]["sentTime"] == "2025-01-01 10:00"


def test_a_bad_date_is_a_bad_request(empty_sandbox, token):
    response = call(empty_sandbox, "GET", LOGS, token, params={"fromDate": "yesterday"})
    assert response.status_code == 400
    assert response.json()["code"] == "ZVSMS-4027"


def test_logs_belong_to_the_tokens_org_only(empty_sandbox, token):
    send(empty_sandbox, token)
    accounts = empty_sandbox.state.accounts
    accounts.refresh_tokens["1000.other.voice"] = RefreshToken(
        "1000.other.voice", worlds.DEMO_CLIENT_ID, "99999999", "5550000000000000001", ("ZohoVoice.sms.READ",)
    )
    other = token_for(empty_sandbox, "1000.other.voice")
    assert logs(empty_sandbox, other) == []


def test_a_status_change_shows_in_the_logs_and_reaches_the_status_callback(empty_sandbox, token):
    receiver = Receiver()
    try:
        callback = f"{receiver.url}/zv/status?zapikey=secret"
        logid = send(empty_sandbox, token, statusCallback=callback).json()["send"]["logid"]
        response = requests.post(
            f"{empty_sandbox.url}/_sandbox/voice/logs/{logid}/status", json={"status": "UNDELIVERED"}, timeout=10
        )
        assert response.status_code == 200
        [log] = logs(empty_sandbox, token)
        assert log["status"] == "UNDELIVERED"
        assert log["statusDescription"].startswith("Message was not delivered")
        [request] = receiver.wait_for(1, "/zv/status")
        assert request.url == callback
        assert (request.json()["logid"], request.json()["status"]) == (logid, "UNDELIVERED")
    finally:
        receiver.stop()


def test_the_demo_auto_progress_delivers_voice_messages_and_calls_back(empty_sandbox, token):
    requests.patch(
        f"{empty_sandbox.url}/_sandbox/config",
        json={"auto_progress_messages": True, "auto_progress_delay_seconds": 0.05},
        timeout=5,
    )
    receiver = Receiver()
    try:
        logid = send(empty_sandbox, token, statusCallback=f"{receiver.url}/zv").json()["send"]["logid"]
        [request] = receiver.wait_for(1, "/zv")
        assert (request.json()["logid"], request.json()["status"]) == (logid, "DELIVERED")
        assert logs(empty_sandbox, token)[0]["status"] == "DELIVERED"
    finally:
        receiver.stop()


def test_zoho_voice_does_no_opt_out_handling(empty_sandbox, token):
    inbound(empty_sandbox, LEAD, "STOP")
    response = send(empty_sandbox, token, message="still delivered by Zoho: the product must suppress it")
    assert response.json()["status"] == "SUCCESS"


def test_a_phone_texting_a_voice_number_lands_in_the_logs_and_in_its_inbox(empty_sandbox, token):
    response = requests.post(
        f"{empty_sandbox.url}/_sandbox/twilio/phones/send",
        json={"from": LEAD, "to": VOICE_NUMBER, "body": "Hi Harbor"},
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json()["provider"] == "zoho_voice"
    send(empty_sandbox, token, message="Hi back")
    assert [log["message"] for log in logs(empty_sandbox, token)] == ["Hi back", "Hi Harbor"]
    thread = requests.get(f"{empty_sandbox.url}/_sandbox/twilio/phones/{LEAD}/messages", timeout=5).json()
    assert [(m["provider"], m["direction"], m["body"]) for m in thread] == [
        ("zoho_voice", "from_phone", "Hi Harbor"),
        ("zoho_voice", "to_phone", "Hi back"),
    ]


def test_an_inbound_to_an_unknown_number_is_refused(empty_sandbox):
    response = requests.post(
        f"{empty_sandbox.url}/_sandbox/voice/inbound",
        json={"from": LEAD, "to": "+14155550177", "message": "hi"},
        timeout=5,
    )
    assert response.status_code == 404
