"""The demo organization: three studios, four numbers (one shared), a manager and two staff, every provider
account pointing at the local sandbox. Applied through the tenants file service, so it is idempotent.

It is the sandbox's demo world (sandbox/worlds.py) seen from the product, so its accounts are of the kinds the
sandbox emulates (a Zoho CRM org and Zoho Voice, Twilio) and its members are that CRM org's users: each
member's `crm_user_ids` names the sandbox user they are on the demo CRM connection."""

from typing import Any

DEMO_PASSWORDS = {
    "operator": "green-barbell-99",
    "manager": "orange-kettlebell-42",
    "staff": "blue-treadmill-17",
}
OPERATOR_EMAIL = "operator@demo.leadline.test"
# The sandbox's demo CRM org has a "new lead" workflow rule posting to the URL with this token (sandbox/worlds.py).
DEMO_LEAD_WEBHOOK_TOKEN = "demo-new-lead-webhook-token-not-secret"  # noqa: S105 (public demo value)
DEMO_CRM_CONNECTION = "demo-zoho-crm"
DEMO_CRM_ORG_ID = "10234695"  # the sandbox's demo CRM org (sandbox/worlds.py)


def demo_document(*, sandbox_url: str) -> dict[str, Any]:
    return {
        "organizations": [
            {
                "slug": "demo",
                "name": "Demo Fitness Co.",
                "accounts": [
                    {
                        "name": "demo-twilio",
                        "kind": "twilio",
                        "default": True,
                        "account_sid": "ACde000000000000000000000000000001",
                        "auth_token": "demo-twilio-auth-token",
                        "api_base_url": sandbox_url,
                    },
                    {
                        "name": DEMO_CRM_CONNECTION,
                        "kind": "zoho_crm",
                        "default": True,
                        "client_id": "1000.DEMOCLIENTID",
                        "client_secret": "demo-zoho-client-secret",
                        "refresh_token": "1000.demo.refresh-token",
                        "accounts_url": sandbox_url,
                        "api_domain": sandbox_url,
                    },
                    {
                        "name": "demo-zoho-voice",
                        "kind": "zoho_voice",
                        "default": True,
                        "client_id": "1000.DEMOCLIENTID",
                        "client_secret": "demo-zoho-client-secret",
                        "refresh_token": "1000.demo.voice-refresh-token",
                        "accounts_url": sandbox_url,
                        "api_base_url": sandbox_url,
                    },
                ],
                "studios": [
                    {"slug": "downtown", "name": "Downtown", "time_zone": "America/New_York"},
                    {"slug": "uptown", "name": "Uptown", "time_zone": "America/New_York"},
                    {"slug": "harbor", "name": "Harbor Point", "time_zone": "America/Los_Angeles"},
                ],
                "numbers": [
                    {"number": "+14155550100", "provider": "twilio", "label": "Main line (all studios)"},
                    {"number": "+14155550101", "provider": "twilio", "studio": "downtown", "label": "Downtown"},
                    {"number": "+14155550102", "provider": "twilio", "studio": "uptown", "label": "Uptown"},
                    {"number": "+14155550103", "provider": "zoho_voice", "studio": "harbor", "label": "Harbor Point"},
                ],
                "members": [
                    {
                        "email": "manager@demo.leadline.test",
                        "name": "Morgan Manager",
                        "role": "manager",
                        "crm_user_ids": {DEMO_CRM_CONNECTION: "4150868000000225001"},
                        "password": DEMO_PASSWORDS["manager"],
                    },
                    {
                        "email": "ana@demo.leadline.test",
                        "name": "Ana Alvarez",
                        "role": "staff",
                        "studios": ["downtown"],
                        "crm_user_ids": {DEMO_CRM_CONNECTION: "4150868000000225002"},
                        "password": DEMO_PASSWORDS["staff"],
                    },
                    {
                        "email": "ben@demo.leadline.test",
                        "name": "Ben Brooks",
                        "role": "staff",
                        "studios": ["uptown", "harbor"],
                        "crm_user_ids": {DEMO_CRM_CONNECTION: "4150868000000225003"},
                        "password": DEMO_PASSWORDS["staff"],
                    },
                ],
            }
        ]
    }
