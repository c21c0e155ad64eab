"""The Zoho widget package: valid JSON, the three placements, and URLs that exist in the product."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import resolve

from crm.providers.zoho import sign_in as zoho_sign_in

PACKAGE = Path(settings.BASE_DIR) / "zoho-widget"


def load(name: str) -> dict:
    return json.loads((PACKAGE / name).read_text())


def test_the_zet_manifest_is_a_crm_manifest_that_may_call_leadline():
    manifest = load("plugin-manifest.json")
    assert manifest["service"] == "CRM"
    assert manifest["cspDomains"]["connect-src"] == [load("widgets.json")["public_base_url"]]


def test_the_widgets_are_a_related_list_on_leads_and_contacts_and_a_web_tab():
    widgets = load("widgets.json")["widgets"]
    placements = {(w["type"], w.get("module")) for w in widgets}
    assert placements == {("related_list", "Leads"), ("related_list", "Contacts"), ("web_tab", None)}
    assert len({w["api_name"] for w in widgets}) == len(widgets)
    assert all(w["hosting"] == "external" for w in widgets)


def test_every_url_is_on_the_public_base_and_served_by_the_product():
    package = load("widgets.json")
    base = package["public_base_url"]
    urls = [w["base_url"] for w in package["widgets"]] + [package["oauth_client"]["redirect_uri"]]
    for url in urls:
        assert url.startswith(base + "/")
        assert urlsplit(url).scheme == "https"
        resolve(urlsplit(url).path)  # raises Resolver404 for a path the product does not serve
    assert all(urlsplit(w["base_url"]).query == "zoho=1" for w in package["widgets"])  # the embedded widget mode
    assert urlsplit(package["oauth_client"]["redirect_uri"]).path == urlsplit(zoho_sign_in.default_redirect_uri()).path
    assert package["oauth_client"]["scopes"] == list(zoho_sign_in.SCOPES)
