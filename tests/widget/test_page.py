"""GET /app/: the page shell, its Content-Security-Policy, and framing only by the embedding CRM (Zoho, Salesforce)."""

from __future__ import annotations

import pytest

from django.test import Client

from crm.records import Capability
from crm.registry import provider_class, registered

pytestmark = pytest.mark.django_db

SDK = "https://live.zwidgets.com/js-sdk/1.2/ZohoEmbededAppSDK.min.js"


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


def test_the_page_loads_for_anyone_with_a_strict_policy_and_no_third_party():
    response = Client().get("/app/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/app/main.js"></script>' in html
    assert "zwidgets" not in html
    assert "crm/zoho/embed.js" not in html
    assert 'data-sign-in-url="/auth/crm/zoho/start?mode=widget"' in html  # the one CRM that signs people in
    csp = directives(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert "csrftoken" in response.cookies


@pytest.mark.parametrize("query", [{"crm": "zoho"}, {"zoho": "1"}], ids=["crm=zoho", "old embeds: zoho=1"])
def test_embedded_in_zoho_it_loads_the_sdk_and_zoho_may_frame_it(query):
    response = Client().get("/app/", query)
    html = response.content.decode()
    assert f'<script src="{SDK}"></script>' in html
    assert '<script src="/static/crm/zoho/embed.js"></script>' in html
    assert html.index(SDK) < html.index("crm/zoho/embed.js") < html.index("app/main.js")
    assert 'data-embedded="1"' in html
    assert 'data-crm="zoho"' in html
    assert 'data-sign-in-url="/auth/crm/zoho/start?mode=widget"' in html
    csp = directives(response)
    assert csp["script-src"] == "'self' https://live.zwidgets.com"
    assert "https://*.zoho.com" in csp["frame-ancestors"].split()
    assert "https://*.zoho.eu" in csp["frame-ancestors"].split()
    assert "unsafe" not in response["Content-Security-Policy"]
    assert not response.has_header("X-Frame-Options")


def test_outside_a_crm_there_is_a_sign_in_button_per_crm_that_signs_people_in():
    html = Client().get("/app/").content.decode()
    providers = [provider_class(kind) for kind in registered()]
    signing_in = [provider for provider in providers if Capability.SIGN_IN in provider.capabilities]
    assert signing_in
    for provider in signing_in:
        label = provider.sign_in_label or provider.label  # "Microsoft" for Dynamics 365: a work account signs in
        assert f'data-sign-in-url="/auth/crm/{provider.kind}/start?mode=widget">Sign in with {label}<' in html
    assert html.count('class="primary signin-crm"') == len(signing_in)
    assert html.count('id="signin-crm"') == 1


@pytest.fixture
def salesforce():
    if "salesforce" not in registered():
        pytest.skip("the Salesforce provider is not registered")
    return provider_class("salesforce")


def test_embedded_in_salesforce_only_lightning_may_frame_it_and_no_third_party_script_loads(salesforce):
    query = {"crm": "salesforce", "object": "Lead", "recordId": "00Q5g00000AbCdEFGH"}
    response = Client().get("/app/", query)
    html = response.content.decode()
    assert '<script src="/static/crm/salesforce/embed.js"></script>' in html
    assert html.index("crm/salesforce/embed.js") < html.index("app/main.js")
    assert 'data-embedded="1"' in html
    assert 'data-crm="salesforce"' in html
    assert "/auth/crm/zoho/" not in html  # inside Salesforce, only its own sign-in
    if Capability.SIGN_IN in salesforce.capabilities:
        assert 'data-sign-in-url="/auth/crm/salesforce/start?mode=widget"' in html
    csp = directives(response)
    assert csp["script-src"] == "'self'"  # Salesforce's component needs no SDK in our page
    assert csp["frame-ancestors"].split() == ["https://*.lightning.force.com", "https://*.my.salesforce.com"]
    assert "unsafe" not in response["Content-Security-Policy"]
    assert not response.has_header("X-Frame-Options")
    assert Client().get("/static/crm/salesforce/embed.js").status_code == 200


def test_an_unknown_crm_is_no_embedding():
    response = Client().get("/app/", {"crm": "nocrm"})
    assert 'data-embedded="0"' in response.content.decode()
    assert directives(response)["frame-ancestors"] == "'none'"


def test_the_page_has_no_inline_script_or_style():
    html = Client().get("/app/", {"zoho": "1"}).content.decode()
    assert "<style" not in html
    assert " style=" not in html
    assert " on" + "click=" not in html
    for tag in html.split("<script")[1:]:
        assert 'src="' in tag.split(">", 1)[0]
        assert tag.split(">", 1)[1].startswith("</script")


def test_the_static_files_are_served():
    client = Client()
    for path in ("app/main.js", "app/api.js", "app/segments.js", "app/app.css", "crm/zoho/embed.js"):
        assert client.get(f"/static/{path}").status_code == 200, path
