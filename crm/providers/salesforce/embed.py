"""The widget inside Salesforce's Lightning record pages: the Lightning Web Component a customer deploys
(lightning/leadlineWidget/, docs/crm/salesforce.md) frames Leadline's page with the open record in the URL
(`/app/?crm=salesforce&object=Lead&recordId=00Q...`); our glue (static/crm/salesforce/embed.js) reads it and opens
that record's conversation. Salesforce has no SDK an external page must load, so `sdk_url` is empty.

Who may frame the page: Lightning Experience (and the Salesforce mobile app) serve record pages from the org's
`<MyDomain>.lightning.force.com` (sandboxes: `<MyDomain>--<sandbox>.sandbox.lightning.force.com`), Salesforce
Classic from `<MyDomain>.my.salesforce.com`. frame-ancestors checks every ancestor, and a component's iframe sits in
the page's own document, so these origins are the ancestors; no broader `*.force.com` (Salesforce Sites are public
pages any customer publishes there)."""

from __future__ import annotations

from crm.records import Embed

FRAME_ANCESTORS = (
    "https://*.lightning.force.com",
    "https://*.my.salesforce.com",
)

SALESFORCE_EMBED = Embed(script="crm/salesforce/embed.js", sdk_url="", frame_ancestors=FRAME_ANCESTORS)
