"""The Twilio emulator answers the unmodified `twilio` client as Twilio does, and calls the product as Twilio does:
signed status callbacks (out of order, duplicated, failed), inbound texts with every parameter, STOP/START/HELP,
TwiML replies, retries and fallbacks."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sandbox import worlds
from sandbox.twilio.optout import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, REPLIES
from sandbox.twilio.segments import count_segments, encoding
from tests.sandbox.twilio_support import Receiver, validate_against_twilio_schema

SID, TOKEN = worlds.DEMO_TWILIO_ACCOUNT_SID, worlds.DEMO_TWILIO_AUTH_TOKEN
STUDIO, OTHER_STUDIO = worlds.DEMO_TWILIO_NUMBERS[1], worlds.DEMO_TWILIO_NUMBERS[2]
LEAD = "+14155550123"
HEX_SID, HEX_TOKEN, HEX_NUMBER = "AC" + "0123456789abcdef" * 2, "hex-account-token", "+14155550150"
C1_PARAMS = {
    "ToCountry",
    "ToState",
    "SmsMessageSid",
    "NumMedia",
    "ToCity",
    "FromZip",
    "SmsSid",
    "FromState",
    "SmsStatus",
    "FromCity",
    "Body",
    "FromCountry",
    "To",
    "ToZip",
    "NumSegments",
    "MessageSid",
    "AccountSid",
    "From",
    "ApiVersion",
}


def control(sandbox, method, path, body=None):
    response = requests.request(method, f"{sandbox.url}/_sandbox/{path}", json=body, timeout=30)
    assert response.status_code < 300, response.text
    return response.json()


def texts(sandbox, from_, to, body, **extra):
    return control(sandbox, "POST", "twilio/phones/send", {"from": from_, "to": to, "body": body, **extra})


def inbox(sandbox, phone):
    return control(sandbox, "GET", f"twilio/phones/{phone}/messages")


def drive(sandbox, sid, statuses, **options):
    return control(sandbox, "POST", f"twilio/messages/{sid}/status", {"statuses": statuses, **options})


def signed_by(token, request):
    """The request carries a valid X-Twilio-Signature for its URL and form (checked by twilio-python)."""
    return RequestValidator(token).validate(request.url, request.form, request.headers["X-Twilio-Signature"])


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def client(empty_sandbox):
    # The demo numbers point at the product (127.0.0.1:8000); these tests give each number its own receiver.
    for number in worlds.DEMO_TWILIO_NUMBERS:
        control(empty_sandbox, "POST", "twilio/numbers", {"number": number, "sms_url": ""})
    twilio = Client(SID, TOKEN)
    twilio.api.base_url = empty_sandbox.url  # twilio 9.x caches the Api domain, so this sticks
    return twilio


@pytest.fixture
def hex_client(empty_sandbox):
    """An account whose sid matches Twilio's pattern (the demo sid 'ACdemo…' does not), for schema checks."""
    control(empty_sandbox, "POST", "twilio/accounts", {"sid": HEX_SID, "auth_token": HEX_TOKEN})
    control(empty_sandbox, "POST", "twilio/numbers", {"number": HEX_NUMBER, "account_sid": HEX_SID})
    twilio = Client(HEX_SID, HEX_TOKEN)
    twilio.api.base_url = empty_sandbox.url
    return twilio


# --- the REST API through the unmodified client -------------------------------------------------------------------


def test_the_unmodified_client_creates_a_message_in_twilios_own_shape(empty_sandbox, hex_client):
    created = hex_client.messages.create(to=LEAD, from_=HEX_NUMBER, body="Hi from the studio")
    assert created.sid.startswith("SM")
    assert len(created.sid) == 34
    assert (created.status, created.direction, created.num_segments, created.num_media) == (
        "queued",
        "outbound-api",
        "1",
        "0",
    )
    assert created.price is None
    assert created.date_sent is None
    assert created.error_code is None
    raw = requests.get(
        f"{empty_sandbox.url}/2010-04-01/Accounts/{HEX_SID}/Messages/{created.sid}.json",
        auth=(HEX_SID, HEX_TOKEN),
        timeout=5,
    ).json()
    validate_against_twilio_schema(raw, "api.v2010.account.message")
    assert parsedate_to_datetime(raw["date_created"]).tzinfo is not None
    assert raw["date_created"].endswith("+0000")
    assert raw["uri"] == f"/2010-04-01/Accounts/{HEX_SID}/Messages/{created.sid}.json"
    assert raw["subresource_uris"] == {"media": f"/2010-04-01/Accounts/{HEX_SID}/Messages/{created.sid}/Media.json"}


def test_a_custom_http_client_reaches_the_sandbox_too(empty_sandbox):
    class SandboxHttpClient(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):
            return super().request(method, url.replace("https://api.twilio.com", empty_sandbox.url), *args, **kwargs)

    twilio = Client(SID, TOKEN, http_client=SandboxHttpClient())
    created = twilio.messages.create(to=LEAD, from_=STUDIO, body="through a custom http client")
    assert twilio.messages(created.sid).fetch().body == "through a custom http client"


def test_media_makes_an_mms_with_its_count(client):
    created = client.messages.create(
        to=LEAD, from_=STUDIO, media_url=["https://example.test/a.jpg", "https://example.test/b.png"]
    )
    assert created.sid.startswith("MM")
    assert created.num_media == "2"
    assert created.body == ""


def test_messages_are_fetched_and_listed_newest_first_with_to_and_from_filters(client):
    first = client.messages.create(to=LEAD, from_=STUDIO, body="one")
    second = client.messages.create(to="+14155550124", from_=STUDIO, body="two")
    third = client.messages.create(to=LEAD, from_=OTHER_STUDIO, body="three")
    assert client.messages(first.sid).fetch().body == "one"
    assert [m.sid for m in client.messages.list()] == [third.sid, second.sid, first.sid]
    assert [m.sid for m in client.messages.list(to=LEAD)] == [third.sid, first.sid]
    assert [m.sid for m in client.messages.list(from_=STUDIO)] == [second.sid, first.sid]
    assert [m.sid for m in client.messages.list(to=LEAD, from_=STUDIO)] == [first.sid]


def test_date_sent_filters_match_sent_messages_by_day(empty_sandbox, client):
    queued = client.messages.create(to=LEAD, from_=STUDIO, body="still queued")
    sent = client.messages.create(to=LEAD, from_=STUDIO, body="sent")
    drive(empty_sandbox, sent.sid, ["sent"])
    today = datetime.now(UTC).date()
    assert [m.sid for m in client.messages.list(date_sent=today)] == [sent.sid]
    assert [m.sid for m in client.messages.list(date_sent_before=today)] == [sent.sid]
    assert [m.sid for m in client.messages.list(date_sent_after=today)] == [sent.sid]
    assert client.messages.list(date_sent=datetime(2008, 1, 2, tzinfo=UTC)) == []
    assert queued.sid not in [m.sid for m in client.messages.list(date_sent_after=datetime(2008, 1, 2, tzinfo=UTC))]


def test_the_list_pages_with_next_page_uri_and_the_client_follows_it(empty_sandbox, hex_client):
    sids = [hex_client.messages.create(to=LEAD, from_=HEX_NUMBER, body=f"n{i}").sid for i in range(5)]
    newest_first = sids[::-1]
    assert [m.sid for m in hex_client.messages.list(page_size=2)] == newest_first
    first = hex_client.messages.page(page_size=2)
    second = first.next_page()
    third = second.next_page()
    assert [[m.sid for m in page] for page in (first, second, third)] == [
        newest_first[:2],
        newest_first[2:4],
        [sids[0]],
    ]
    assert third.next_page_url is None
    assert third.next_page() is None
    raw = requests.get(
        f"{empty_sandbox.url}/2010-04-01/Accounts/{HEX_SID}/Messages.json",
        params={"To": LEAD, "PageSize": 2},
        auth=(HEX_SID, HEX_TOKEN),
        timeout=5,
    ).json()
    validate_against_twilio_schema(raw, "ListMessageResponse")
    for item in raw["messages"]:
        validate_against_twilio_schema(item, "api.v2010.account.message")
    assert (raw["page"], raw["page_size"], raw["start"], raw["end"], raw["previous_page_uri"]) == (0, 2, 0, 1, None)
    assert raw["uri"] == f"/2010-04-01/Accounts/{HEX_SID}/Messages.json?To=%2B14155550123&PageSize=2&Page=0"
    assert raw["first_page_uri"] == raw["uri"]
    assert raw["next_page_uri"] == (
        f"/2010-04-01/Accounts/{HEX_SID}/Messages.json?To=%2B14155550123&PageSize=2&Page=1&PageToken=PA{sids[3]}"
    )


def test_a_message_can_be_deleted_and_is_then_not_found(client):
    created = client.messages.create(to=LEAD, from_=STUDIO, body="bye")
    assert client.messages(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as caught:
        client.messages(created.sid).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_another_accounts_messages_and_numbers_are_out_of_reach(empty_sandbox, client, hex_client):
    theirs = hex_client.messages.create(to=LEAD, from_=HEX_NUMBER, body="private")
    with pytest.raises(TwilioRestException) as caught:
        client.messages(theirs.sid).fetch()
    assert caught.value.code == 20404
    assert theirs.sid not in [m.sid for m in client.messages.list()]
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=LEAD, from_=HEX_NUMBER, body="from their number")
    assert caught.value.code == 21606


@pytest.mark.parametrize(
    ("username", "password"),
    [(SID, "wrong-token"), ("AC" + "f" * 32, TOKEN), (HEX_SID, TOKEN)],
    ids=["wrong-token", "unknown-account", "another-accounts-sid"],
)
def test_bad_credentials_are_refused_with_20003(empty_sandbox, hex_client, username, password):
    twilio = Client(username, password, account_sid=SID)
    twilio.api.base_url = empty_sandbox.url
    with pytest.raises(TwilioRestException) as caught:
        twilio.messages.create(to=LEAD, from_=STUDIO, body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert caught.value.msg == "Unable to create record: Authenticate"


def test_a_request_without_credentials_gets_twilios_401_json(empty_sandbox):
    response = requests.post(
        f"{empty_sandbox.url}/2010-04-01/Accounts/{SID}/Messages.json", data={"To": LEAD}, timeout=5
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"to": None, "from_": STUDIO, "body": "x"}, 21604),
        ({"to": LEAD, "from_": STUDIO}, 21602),
        ({"to": LEAD, "messaging_service_sid": "MG" + "a" * 32}, 21619),
        ({"to": "+1555", "from_": STUDIO, "body": "x"}, 21211),
        ({"to": "4155550123", "from_": STUDIO, "body": "x"}, 21211),
        ({"to": "+15551234567", "from_": STUDIO, "body": "x"}, 21211),
        ({"to": LEAD, "from_": "+14155550109", "body": "x"}, 21606),
        ({"to": LEAD, "from_": STUDIO, "body": "a" * 1601}, 21617),
        ({"to": LEAD, "from_": STUDIO, "body": "😀" * 801}, 21617),
        ({"to": "+14155550199", "from_": STUDIO, "body": "x"}, 21614),
    ],
    ids=[
        "to-missing",
        "body-missing",
        "body-missing-with-service",
        "to-too-short",
        "to-not-e164",
        "to-not-a-real-number",
        "from-not-ours",
        "body-too-long",
        "body-too-long-in-utf16",
        "to-a-landline",
    ],
)
def test_each_invalid_send_fails_with_twilios_error_code(client, arguments, code):
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(**arguments)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert client.messages.list() == []


def test_a_1600_character_body_is_accepted(client):
    assert client.messages.create(to=LEAD, from_=STUDIO, body="a" * 1600).num_segments == "11"


def test_a_landline_list_can_be_changed(empty_sandbox, client):
    control(empty_sandbox, "POST", "twilio/landlines", {"numbers": [LEAD]})
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=LEAD, from_=STUDIO, body="x")
    assert caught.value.code == 21614
    assert client.messages.create(to="+14155550199", from_=STUDIO, body="x").status == "queued"


def test_an_injected_429_reaches_the_client_as_20429(empty_sandbox, client):
    control(empty_sandbox, "POST", "faults", {"path": "/Messages.json$", "method": "POST", "status": 429})
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=LEAD, from_=STUDIO, body="x")
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert client.messages.create(to=LEAD, from_=STUDIO, body="x").status == "queued"


@pytest.mark.parametrize(
    ("body", "segments", "encoding_name"),
    [
        pytest.param("a" * 160, 1, "GSM-7", id="gsm-160"),
        pytest.param("a" * 161, 2, "GSM-7", id="gsm-161"),
        pytest.param("a" * 306, 2, "GSM-7", id="gsm-306"),
        pytest.param("a" * 307, 3, "GSM-7", id="gsm-307"),
        pytest.param("ж" * 70, 1, "UCS-2", id="ucs2-70"),
        pytest.param("ж" * 71, 2, "UCS-2", id="ucs2-71"),
        pytest.param("ж" * 134, 2, "UCS-2", id="ucs2-134"),
        pytest.param("ж" * 135, 3, "UCS-2", id="ucs2-135"),
        pytest.param("a" * 159 + "ж", 3, "UCS-2", id="one-non-gsm-char-makes-ucs2"),
        pytest.param("{" * 80, 1, "GSM-7", id="ext-80-pairs"),
        pytest.param("{" * 81, 2, "GSM-7", id="ext-81-pairs"),
        pytest.param("€" * 76 + "a", 1, "GSM-7", id="euro-76-plus-1"),
        pytest.param("a" * 152 + "[" + "a" * 10, 2, "GSM-7", id="ext-pair-moves-to-part-2"),
        pytest.param("a" * 151 + "~" + "a" * 10, 2, "GSM-7", id="ext-pair-fits-part-1"),
        pytest.param("😀" * 35, 1, "UCS-2", id="emoji-35"),
        pytest.param("😀" * 36, 2, "UCS-2", id="emoji-36"),
        pytest.param("Café £5 @ 10:00 àè", 1, "GSM-7", id="gsm-accents"),
    ],
)
def test_segments_are_counted_as_twilio_counts_them(client, body, segments, encoding_name):
    assert encoding(body) == encoding_name
    assert count_segments(body) == segments
    assert client.messages.create(to=LEAD, from_=STUDIO, body=body).num_segments == str(segments)


def test_an_extension_character_is_not_split_across_segments():
    # 152 plain septets then '[' (2 septets): the escape pair does not fit in the first 153-septet part.
    assert count_segments("a" * 152 + "[") == 1  # 154 septets fit in one single 160-septet message
    assert count_segments("a" * 152 + "[" + "a" * 151) == 2  # 305 septets: 152 | 2 + 151
    assert count_segments("a" * 152 + "[" + "a" * 152) == 3  # 306 septets, yet 3 parts: 152 | 2 + 151 | 1


def test_incoming_phone_numbers_are_listed_and_their_sms_url_updated_by_the_client(empty_sandbox, hex_client):
    [number] = hex_client.incoming_phone_numbers.list(phone_number=HEX_NUMBER)
    assert number.phone_number == HEX_NUMBER
    assert number.sid.startswith("PN")
    updated = hex_client.incoming_phone_numbers(number.sid).update(
        sms_url="https://app.example.test/webhooks/twilio/sms/", sms_method="POST"
    )
    assert updated.sms_url == "https://app.example.test/webhooks/twilio/sms/"
    assert empty_sandbox.state.twilio.numbers[HEX_NUMBER].sms_url == updated.sms_url
    raw = requests.get(
        f"{empty_sandbox.url}/2010-04-01/Accounts/{HEX_SID}/IncomingPhoneNumbers/{number.sid}.json",
        auth=(HEX_SID, HEX_TOKEN),
        timeout=5,
    ).json()
    validate_against_twilio_schema(raw, "api.v2010.account.incoming_phone_number")
    account = requests.get(
        f"{empty_sandbox.url}/2010-04-01/Accounts/{HEX_SID}.json", auth=(HEX_SID, HEX_TOKEN), timeout=5
    ).json()
    validate_against_twilio_schema(account, "api.v2010.account")


def test_the_demo_world_points_its_numbers_at_the_products_sms_webhook(sandbox):
    numbers = {n["phone_number"]: n for n in control(sandbox, "GET", "twilio/numbers")}
    assert set(numbers) == {
        *worlds.DEMO_TWILIO_NUMBERS,
        *worlds.DEMO_SF_TWILIO_NUMBERS,
        *worlds.DEMO_HS_TWILIO_NUMBERS,
        *worlds.DEMO_DV_TWILIO_NUMBERS,
    }
    base = sandbox.state.config.product_base_url
    assert {n["sms_url"] for n in numbers.values()} == {base + worlds.TWILIO_SMS_PATH}
    assert {n["account_sid"] for n in numbers.values()} == {SID}


# --- status callbacks -------------------------------------------------------------------------------------------------


def test_status_callbacks_are_signed_with_the_account_token_and_skip_the_initial_status(
    empty_sandbox, client, receiver
):
    callback = f"{receiver.url}/status?studio=downtown"
    created = client.messages.create(to=LEAD, from_=STUDIO, body="hello", status_callback=callback)
    assert receiver.requests == []  # nothing for the initial "queued"
    result = drive(empty_sandbox, created.sid, ["sent", "delivered"])
    assert [d["status"] for d in result["deliveries"]] == [200, 200]
    sent, delivered = receiver.wait_for(2, "/status")
    assert [sent.form["MessageStatus"], delivered.form["MessageStatus"]] == ["sent", "delivered"]
    assert sent.form == {
        "SmsSid": created.sid,
        "SmsStatus": "sent",
        "MessageStatus": "sent",
        "To": LEAD,
        "MessageSid": created.sid,
        "AccountSid": SID,
        "From": STUDIO,
        "ApiVersion": "2010-04-01",
    }
    assert len(delivered.form["RawDlrDoneDate"]) == 10
    assert "ErrorCode" not in delivered.form
    for request in (sent, delivered):
        assert request.url == callback
        assert signed_by(TOKEN, request)
        assert not signed_by("another-token", request)
    assert client.messages(created.sid).fetch().status == "delivered"


def test_callbacks_can_arrive_reversed_and_duplicated_while_the_message_ends_delivered(empty_sandbox, client, receiver):
    created = client.messages.create(to=LEAD, from_=STUDIO, body="hi", status_callback=f"{receiver.url}/status")
    drive(empty_sandbox, created.sid, ["sent", "delivered"], order="reversed", duplicate=True)
    statuses = [r.form["MessageStatus"] for r in receiver.wait_for(4, "/status")]
    assert statuses == ["delivered", "delivered", "sent", "sent"]
    assert all(signed_by(TOKEN, r) for r in receiver.requests)
    fetched = client.messages(created.sid).fetch()
    assert fetched.status == "delivered"
    assert fetched.date_sent is not None
    assert fetched.price is not None


@pytest.mark.parametrize(("final", "error_code"), [("undelivered", 30003), ("failed", 30007), ("undelivered", 30006)])
def test_a_failure_callback_carries_its_error_code(empty_sandbox, client, receiver, final, error_code):
    created = client.messages.create(to=LEAD, from_=STUDIO, body="hi", status_callback=f"{receiver.url}/status")
    drive(empty_sandbox, created.sid, ["sent", final], error_code=error_code)
    sent, failed = receiver.wait_for(2, "/status")
    assert "ErrorCode" not in sent.form
    assert (failed.form["MessageStatus"], failed.form["ErrorCode"]) == (final, str(error_code))
    assert ("RawDlrDoneDate" in failed.form) == (final == "undelivered")
    fetched = client.messages(created.sid).fetch()
    assert (fetched.status, fetched.error_code) == (final, error_code)
    assert fetched.error_message


def test_a_message_without_status_callback_changes_status_silently(empty_sandbox, client):
    created = client.messages.create(to=LEAD, from_=STUDIO, body="hi")
    assert drive(empty_sandbox, created.sid, ["sent"])["deliveries"] == []
    assert client.messages(created.sid).fetch().status == "sent"


def test_the_demo_auto_progress_walks_queued_to_delivered_with_a_callback_each(empty_sandbox, client, receiver):
    control(empty_sandbox, "PATCH", "config", {"auto_progress_messages": True, "auto_progress_delay_seconds": 0.05})
    created = client.messages.create(to=LEAD, from_=STUDIO, body="hi", status_callback=f"{receiver.url}/status")
    assert created.status == "queued"
    callbacks = receiver.wait_for(3, "/status")
    assert [r.form["MessageStatus"] for r in callbacks] == ["sending", "sent", "delivered"]
    assert all(signed_by(TOKEN, r) for r in callbacks)
    assert client.messages(created.sid).fetch().status == "delivered"


def test_a_status_callback_url_honours_the_retry_fragment(empty_sandbox, client, receiver):
    receiver.answer("/status", (503, "busy", "text/plain"), (200, "", "text/plain"))
    created = client.messages.create(
        to=LEAD, from_=STUDIO, body="hi", status_callback=f"{receiver.url}/status#rc=2&rp=5xx"
    )
    result = drive(empty_sandbox, created.sid, ["sent"])
    assert [d["status"] for d in result["deliveries"]] == [503, 200]
    first, second = receiver.wait_for(2, "/status")
    assert first.url == second.url == f"{receiver.url}/status"
    assert signed_by(TOKEN, first)
    assert signed_by(TOKEN, second)


# --- a phone texts a studio ------------------------------------------------------------------------------------------


def test_an_inbound_text_reaches_the_sms_url_with_every_parameter_and_a_valid_signature(empty_sandbox, receiver):
    sms_url = f"{receiver.url}/sms?studio=downtown"
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": sms_url})
    result = texts(empty_sandbox, LEAD, STUDIO, "Yes please", extra_params={"AddOns": '{"status":"successful"}'})
    [request] = receiver.at("/sms")
    form = request.form
    assert C1_PARAMS <= set(form)
    assert "OptOutType" not in form
    sid = result["message"]["sid"]
    assert form["MessageSid"] == form["SmsSid"] == form["SmsMessageSid"] == sid
    assert sid.startswith("SM")
    assert (form["From"], form["To"], form["Body"], form["AccountSid"]) == (LEAD, STUDIO, "Yes please", SID)
    assert (form["SmsStatus"], form["NumMedia"], form["NumSegments"], form["ApiVersion"]) == (
        "received",
        "0",
        "1",
        "2010-04-01",
    )
    assert (form["ToCountry"], form["ToState"], form["ToCity"]) == ("US", "CA", "SAN FRANCISCO")
    assert form["AddOns"] == '{"status":"successful"}'  # parameters Twilio adds later are signed too
    assert request.url == sms_url
    assert signed_by(TOKEN, request)
    assert request.headers["I-Twilio-Idempotency-Token"]
    assert result["message"]["direction"] == "inbound"
    assert result["message"]["status"] == "received"


def test_inbound_media_arrives_as_numbered_media_parameters(empty_sandbox, receiver):
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    media = [
        {"url": "https://media.example.test/1.png", "content_type": "image/png"},
        "https://media.example.test/2.jpg",
    ]
    result = texts(empty_sandbox, LEAD, STUDIO, "", media=media)
    [request] = receiver.at("/sms")
    assert result["message"]["sid"].startswith("MM")
    assert request.form["NumMedia"] == "2"
    assert (request.form["MediaUrl0"], request.form["MediaContentType0"]) == (media[0]["url"], "image/png")
    assert (request.form["MediaUrl1"], request.form["MediaContentType1"]) == (media[1], "image/jpeg")
    assert signed_by(TOKEN, request)


def test_a_get_sms_url_carries_the_parameters_in_its_query_and_signs_that_url(empty_sandbox, receiver):
    control(
        empty_sandbox,
        "POST",
        "twilio/numbers",
        {"number": STUDIO, "sms_url": f"{receiver.url}/sms", "sms_method": "GET"},
    )
    texts(empty_sandbox, LEAD, STUDIO, "hello there")
    [request] = receiver.at("/sms")
    assert request.method == "GET"
    assert "Body=hello+there" in request.url
    assert RequestValidator(TOKEN).validate(request.url, {}, request.headers["X-Twilio-Signature"])


def test_stop_blocks_that_sender_with_21610_until_start(empty_sandbox, client, receiver):
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    client.messages.create(to=LEAD, from_=STUDIO, body="Welcome! Reply STOP to opt out")
    stopped = texts(empty_sandbox, LEAD, STUDIO, "  Stop ")
    assert stopped["opt_out_type"] == "STOP"
    [forwarded] = receiver.at("/sms")  # Twilio still forwards the STOP to the webhook
    assert (forwarded.form["Body"], forwarded.form["OptOutType"]) == ("  Stop ", "STOP")
    assert signed_by(TOKEN, forwarded)
    assert inbox(empty_sandbox, LEAD)[-1]["body"] == REPLIES["STOP"]
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=LEAD, from_=STUDIO, body="are you there?")
    assert (caught.value.status, caught.value.code) == (400, 21610)
    assert client.messages.create(to=LEAD, from_=OTHER_STUDIO, body="another sender").status == "queued"
    assert control(empty_sandbox, "GET", "twilio/optouts") == [{"from": STUDIO, "to": LEAD}]
    started = texts(empty_sandbox, LEAD, STUDIO, "start")
    assert started["opt_out_type"] == "START"
    assert receiver.at("/sms")[-1].form["OptOutType"] == "START"
    assert inbox(empty_sandbox, LEAD)[-1]["body"] == REPLIES["START"]
    assert client.messages.create(to=LEAD, from_=STUDIO, body="welcome back").status == "queued"


@pytest.mark.parametrize("keyword", sorted(OPT_OUT_KEYWORDS))
def test_every_opt_out_keyword_blocks_in_any_case(empty_sandbox, client, keyword):
    assert texts(empty_sandbox, LEAD, STUDIO, keyword.lower())["opt_out_type"] == "STOP"
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=LEAD, from_=STUDIO, body="x")
    assert caught.value.code == 21610


@pytest.mark.parametrize("keyword", sorted(OPT_IN_KEYWORDS))
def test_every_opt_in_keyword_lifts_the_block(empty_sandbox, client, keyword):
    texts(empty_sandbox, LEAD, STUDIO, "STOP")
    assert texts(empty_sandbox, LEAD, STUDIO, keyword.title())["opt_out_type"] == "START"
    assert client.messages.create(to=LEAD, from_=STUDIO, body="x").status == "queued"


@pytest.mark.parametrize("body", ["STOP PLEASE", "please cancel", "Stop.", "stopp", "STOP texting me"])
def test_only_a_single_keyword_word_triggers_opt_out(empty_sandbox, client, receiver, body):
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    assert texts(empty_sandbox, LEAD, STUDIO, body)["opt_out_type"] is None
    assert "OptOutType" not in receiver.at("/sms")[0].form
    assert client.messages.create(to=LEAD, from_=STUDIO, body="x").status == "queued"


@pytest.mark.parametrize("keyword", ["HELP", "info"])
def test_help_gets_twilios_help_reply_without_blocking(empty_sandbox, client, receiver, keyword):
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    result = texts(empty_sandbox, LEAD, STUDIO, keyword)
    assert result["opt_out_type"] == "HELP"
    assert receiver.at("/sms")[0].form["OptOutType"] == "HELP"
    assert result["auto_reply"]["body"] == REPLIES["HELP"]
    assert inbox(empty_sandbox, LEAD)[-1] | {"date_created": None} == {
        "provider": "twilio",
        "sid": None,
        "from": STUDIO,
        "to": LEAD,
        "body": REPLIES["HELP"],
        "media": [],
        "status": "delivered",
        "direction": "to_phone",
        "date_created": None,
    }
    assert client.messages.create(to=LEAD, from_=STUDIO, body="x").status == "queued"


def test_a_twiml_message_reply_becomes_an_outbound_message_to_the_phone(empty_sandbox, client, receiver):
    twiml = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks, see you at 6!</Message></Response>'
    receiver.answer("/sms", (200, twiml, "text/xml"))
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    result = texts(empty_sandbox, LEAD, STUDIO, "Can I come tonight?")
    [reply] = result["replies"]
    assert (reply["from"], reply["to"], reply["body"], reply["direction"], reply["status"]) == (
        STUDIO,
        LEAD,
        "Thanks, see you at 6!",
        "outbound-reply",
        "queued",
    )
    assert [m.sid for m in client.messages.list(to=LEAD)] == [reply["sid"]]
    assert [m["body"] for m in inbox(empty_sandbox, LEAD)] == ["Can I come tonight?", "Thanks, see you at 6!"]
    assert [m["direction"] for m in inbox(empty_sandbox, LEAD)] == ["from_phone", "to_phone"]


def test_a_twiml_reply_with_body_and_media_elements_and_several_messages(empty_sandbox, receiver):
    twiml = (
        "<Response><Message><Body>Our schedule</Body><Media>https://media.example.test/s.png</Media></Message>"
        "<Message>Second</Message></Response>"
    )
    receiver.answer("/sms", (200, twiml, "application/xml"))
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    replies = texts(empty_sandbox, LEAD, STUDIO, "schedule?")["replies"]
    assert [(r["body"], r["num_media"]) for r in replies] == [("Our schedule", "1"), ("Second", "0")]


def test_an_empty_or_invalid_answer_sends_nothing(empty_sandbox, receiver):
    receiver.answer("/sms", (200, "", "text/plain"))
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    assert texts(empty_sandbox, LEAD, STUDIO, "hi")["replies"] == []
    receiver.answer("/sms", (200, "not xml", "text/plain"))
    result = texts(empty_sandbox, LEAD, STUDIO, "hi again")
    assert result["replies"] == []
    assert result["twiml_error"].startswith("12100")


def test_a_twiml_reply_to_an_opted_out_phone_fails_with_21610(empty_sandbox, receiver):
    receiver.answer("/sms", (200, "<Response><Message>Sorry to see you go</Message></Response>", "text/xml"))
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    [reply] = texts(empty_sandbox, LEAD, STUDIO, "STOP")["replies"]
    assert (reply["status"], reply["error_code"]) == ("failed", 21610)
    assert [m["body"] for m in inbox(empty_sandbox, LEAD)] == ["STOP", REPLIES["STOP"]]


def test_the_retry_fragment_retries_5xx_and_never_reaches_the_signature(empty_sandbox, receiver):
    receiver.answer("/sms", (500, "oops", "text/plain"), (502, "oops", "text/plain"), (200, "<Response/>", "text/xml"))
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms#rc=3&rp=5xx"})
    result = texts(empty_sandbox, LEAD, STUDIO, "hello")
    assert [d["status"] for d in result["deliveries"]] == [500, 502, 200]
    attempts = receiver.at("/sms")
    assert len(attempts) == 3
    assert all(a.url == f"{receiver.url}/sms" and signed_by(TOKEN, a) for a in attempts)
    assert len({a.headers["I-Twilio-Idempotency-Token"] for a in attempts}) == 1


def test_without_a_fragment_a_5xx_is_not_retried(empty_sandbox, receiver):
    receiver.answer("/sms", (500, "oops", "text/plain"))
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": f"{receiver.url}/sms"})
    assert [d["status"] for d in texts(empty_sandbox, LEAD, STUDIO, "hello")["deliveries"]] == [500]


def test_a_refused_connection_is_retried_once_by_default(empty_sandbox):
    closed = Receiver()
    url = f"{closed.url}/sms"
    closed.stop()
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": url})
    deliveries = texts(empty_sandbox, LEAD, STUDIO, "hello")["deliveries"]
    assert len(deliveries) == 2
    assert all(d["error"] for d in deliveries)


def test_a_failing_sms_url_falls_back_to_the_fallback_url(empty_sandbox, receiver):
    receiver.answer("/sms", (500, "oops", "text/plain"))
    receiver.answer("/fallback", (200, "<Response><Message>We got it</Message></Response>", "text/xml"))
    control(
        empty_sandbox,
        "POST",
        "twilio/numbers",
        {"number": STUDIO, "sms_url": f"{receiver.url}/sms", "sms_fallback_url": f"{receiver.url}/fallback"},
    )
    result = texts(empty_sandbox, LEAD, STUDIO, "hello")
    [fallback] = receiver.at("/fallback")
    assert (fallback.form["ErrorCode"], fallback.form["ErrorUrl"]) == ("11200", f"{receiver.url}/sms")
    assert fallback.form["Body"] == "hello"
    assert signed_by(TOKEN, fallback)
    assert [r["body"] for r in result["replies"]] == ["We got it"]


def test_a_number_without_sms_url_still_records_and_blocks(empty_sandbox, client):
    control(empty_sandbox, "POST", "twilio/numbers", {"number": STUDIO, "sms_url": ""})
    assert texts(empty_sandbox, LEAD, STUDIO, "STOP")["deliveries"] == []
    with pytest.raises(TwilioRestException):
        client.messages.create(to=LEAD, from_=STUDIO, body="x")


def test_the_control_api_lists_what_was_sent(empty_sandbox, client):
    client.messages.create(to=LEAD, from_=STUDIO, body="one", status_callback="http://127.0.0.1:9/cb")
    client.messages.create(to="+14155550124", from_=STUDIO, body="two")
    rows = control(empty_sandbox, "GET", "twilio/messages?to=%2B14155550123")
    assert [(r["body"], r["status_callback"]) for r in rows] == [("one", "http://127.0.0.1:9/cb")]
    assert len(control(empty_sandbox, "GET", "twilio/messages")) == 2


def test_the_phone_inbox_shows_what_it_sent_and_received_in_order(empty_sandbox, client):
    client.messages.create(to=LEAD, from_=STUDIO, body="first from studio")
    texts(empty_sandbox, LEAD, STUDIO, "reply from phone")
    failed = client.messages.create(to=LEAD, from_=STUDIO, body="never arrives")
    drive(empty_sandbox, failed.sid, ["undelivered"], error_code=30003)
    assert [(m["body"], m["direction"]) for m in inbox(empty_sandbox, LEAD)] == [
        ("first from studio", "to_phone"),
        ("reply from phone", "from_phone"),
    ]
    assert inbox(empty_sandbox, LEAD.lstrip("+")) == inbox(empty_sandbox, LEAD)


def test_a_phone_cannot_text_a_number_the_sandbox_does_not_have(empty_sandbox):
    response = requests.post(
        f"{empty_sandbox.url}/_sandbox/twilio/phones/send",
        json={"from": LEAD, "to": "+14155550177", "body": "hi"},
        timeout=5,
    )
    assert response.status_code == 404
