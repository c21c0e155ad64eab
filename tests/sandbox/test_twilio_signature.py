"""The sandbox signs Twilio webhooks exactly as Twilio does: the vectors of docs/vendors/twilio.md (Signature)
hold for the sandbox's own signer and for twilio-python's RequestValidator (what the product validates with)."""

import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from sandbox.twilio.signature import (
    body_sha256,
    compute_signature,
    is_valid,
    split_fragment,
    url_with_body_hash,
)

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
CALL = MultiDict(
    {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
)
CLASSIC = MultiDict(
    {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
)
REPEATED = MultiDict([("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")])
JSON_BODY = '{"property": "value", "boolean": true}'
JSON_URL = f"{URL}&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"

FORM_VECTORS = [
    pytest.param(URL, CALL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", id="https"),
    pytest.param(
        "https://mycompany.com:443/myapp.php?foo=1&bar=2", CALL, "kvajT1Ptam85bY51eRf/AJRuM3w=", id="https-443"
    ),
    pytest.param("http://mycompany.com:80/myapp.php?foo=1&bar=2", CALL, "0ZXoZLH/DfblKGATFgpif+LLRf4=", id="http-80"),
    pytest.param(
        "http://mycompany.com:1234/myapp.php?foo=1&bar=2", CALL, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", id="port-1234"
    ),
    pytest.param(URL, REPEATED, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", id="repeated-key"),
    pytest.param(URL, CLASSIC, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", id="docs-classic"),
]


@pytest.mark.parametrize(("url", "params", "expected"), FORM_VECTORS)
def test_the_sandbox_signer_reproduces_every_form_vector(url, params, expected):
    assert compute_signature(TOKEN, url, params) == expected


@pytest.mark.parametrize(("url", "params", "expected"), FORM_VECTORS)
def test_twilios_request_validator_agrees_on_every_form_vector(url, params, expected):
    validator = RequestValidator(TOKEN)
    assert validator.compute_signature(url, params) == expected
    assert validator.validate(url, params, expected)
    assert is_valid(TOKEN, url, params, expected)


def test_the_json_body_vector_signs_the_url_with_its_body_hash():
    assert body_sha256(JSON_BODY) == JSON_URL.rsplit("=", 1)[1]
    assert url_with_body_hash(URL, JSON_BODY) == JSON_URL
    expected = "a9nBmqA0ju/hNViExpshrM61xv4="
    assert compute_signature(TOKEN, JSON_URL, None) == expected
    assert RequestValidator(TOKEN).validate(JSON_URL, JSON_BODY, expected)
    assert is_valid(TOKEN, JSON_URL, JSON_BODY, expected)
    assert not is_valid(TOKEN, JSON_URL, JSON_BODY.replace("true", "false"), expected)


def test_a_plain_dict_of_lists_signs_like_a_multidict():
    as_dict = {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234"]}
    assert compute_signature(TOKEN, URL, as_dict) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_any_changed_parameter_or_url_breaks_the_signature():
    signature = compute_signature(TOKEN, URL, CALL)
    tampered = MultiDict(CALL)
    tampered["Digits"] = "9999"
    validator = RequestValidator(TOKEN)
    assert not validator.validate(URL, tampered, signature)
    assert not validator.validate(URL.replace("foo=1", "foo=2"), CALL, signature)
    assert not RequestValidator("another-token").validate(URL, CALL, signature)
    assert not is_valid(TOKEN, URL, tampered, signature)


def test_a_get_webhook_signs_only_its_url():
    url = f"{URL}&Body=hi&From=%2B14155550123"
    signature = compute_signature(TOKEN, url, None)
    assert RequestValidator(TOKEN).validate(url, {}, signature)


def test_the_connection_override_fragment_is_split_off_and_parsed():
    base, overrides = split_fragment("https://app.example.com/tw/inbound?x=1#rc=3&rp=5xx,ct&ct=2000&rt=8000")
    assert base == "https://app.example.com/tw/inbound?x=1"
    assert overrides == {"rc": "3", "rp": "5xx,ct", "ct": "2000", "rt": "8000"}
    assert split_fragment("https://app.example.com/a") == ("https://app.example.com/a", {})
