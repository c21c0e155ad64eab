"""What a Salesforce Flow's HTTP callout sends to the new-lead webhook: the lead id under `leadId` or `Id`, 15 or 18
characters, and the short URL whose token stays out of logs (no database: pure functions)."""

from __future__ import annotations

import pytest

from automation.services.intake import lead_id_from_payload
from core.logging import redact_text


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"body": '{"leadId": "00Q5g00000AbCdEFGHIJ", "orgId": "00D5g00000DEMOSFEAA"}'}, "00Q5g00000AbCdEFGHIJ"),
        ({"body": '{"Id": "00Q5g00000AbCdE"}'}, "00Q5g00000AbCdE"),  # a 15-character id
        ({"body": '{"Id": "00Q5g00000AbCdEFGH", "Name": "O"Brien"}'}, "00Q5g00000AbCdEFGH"),  # broken JSON
        ({"query": {"leadId": "00Q5g00000AbCdEFGH"}}, "00Q5g00000AbCdEFGH"),
    ],
)
def test_a_salesforce_flows_lead_id_is_found(payload, expected):
    assert lead_id_from_payload(payload) == expected


def test_the_short_webhook_url_keeps_its_token_out_of_logs():
    assert redact_text("POST /webhooks/crm/salesforce/s3cr3t-token/") == "POST /webhooks/crm/salesforce/[redacted]/"
    assert redact_text("POST /webhooks/crm/zoho/notifications/") == "POST /webhooks/crm/zoho/notifications/"
