"""GET /app/: the page shell, its Content-Security-Policy, and framing only by Zoho when embedded."""

from __future__ import annotations

import pytest

from django.test import Client

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
    csp = directives(response)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert "csrftoken" in response.cookies


def test_embedded_in_zoho_it_loads_the_sdk_and_zoho_may_frame_it():
    response = Client().get("/app/", {"zoho": "1"})
    html = response.content.decode()
    assert f'<script src="{SDK}"></script>' in html
    assert 'data-embedded="1"' in html
    csp = directives(response)
    assert csp["script-src"] == "'self' https://live.zwidgets.com"
    assert "https://*.zoho.com" in csp["frame-ancestors"].split()
    assert "https://*.zoho.eu" in csp["frame-ancestors"].split()
    assert "unsafe" not in response["Content-Security-Policy"]
    assert not response.has_header("X-Frame-Options")


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
    for name in ("main.js", "api.js", "segments.js", "app.css"):
        assert client.get(f"/static/app/{name}").status_code == 200, name
