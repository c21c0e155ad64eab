"""The widget inside Zoho CRM's pages (the zoho-widget/ package customers install): Zoho's SDK for embedded apps,
our glue that reads the open record from it (static/crm/zoho/embed.js), and the Zoho origins that may frame it."""

from __future__ import annotations

from typing import ClassVar

from crm.records import Embed

# Zoho's JS SDK for widgets (docs/vendors/zoho-crm.md, Widgets and user identity).
SDK_URL = "https://live.zwidgets.com/js-sdk/1.2/ZohoEmbededAppSDK.min.js"

# Zoho CRM's web origins in every data centre, and Zoho's widget host, which may sit between the CRM page and an
# externally hosted widget: frame-ancestors checks every ancestor, not only the parent.
FRAME_ANCESTORS = (
    "https://*.zoho.com",
    "https://*.zoho.eu",
    "https://*.zoho.in",
    "https://*.zoho.com.au",
    "https://*.zoho.jp",
    "https://*.zoho.com.cn",
    "https://*.zohocloud.ca",
    "https://*.zoho.sa",
    "https://*.zoho.ae",
    "https://*.zoho.uk",
    "https://*.zappsusercontent.com",
)

ZOHO_EMBED = Embed(script="crm/zoho/embed.js", sdk_url=SDK_URL, frame_ancestors=FRAME_ANCESTORS)


class ZohoEmbed:
    """The CRM interface's `embed` for ZohoCrmProvider."""

    embed: ClassVar[Embed | None] = ZOHO_EMBED
