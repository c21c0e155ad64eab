"""The widget from a HubSpot record. HubSpot has no SDK an external page loads to run inside its pages (as other
CRMs' widget SDKs do: docs/widget.md), and nothing we rely on says HubSpot frames a page of ours; so the
widget opens in its own tab from a link on the record (an app card's link, or a link property), whose URL names
the record: `/app/?crm=hubspot&object=contact&recordId=<id>` (docs/crm/hubspot.md). Our glue
(static/crm/hubspot/embed.js) reads it and opens that record's conversation; the sign-in offered is "Sign in with
HubSpot" only. Nobody may frame the page (no frame ancestors: CSP frame-ancestors 'none'), so `sdk_url` is empty."""

from __future__ import annotations

from crm.records import Embed

HUBSPOT_EMBED = Embed(script="crm/hubspot/embed.js", sdk_url="", frame_ancestors=())
