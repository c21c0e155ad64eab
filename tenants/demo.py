"""The demo organizations, every provider account pointing at the local sandbox, applied through the tenants file
service (so it is idempotent), so `make run` shows every CRM side by side:

- Demo Fitness Co. (`demo`) on Zoho CRM: three studios, four numbers (one shared, one on Zoho Voice), a manager
  and two staff;
- Summit Fitness Co. (`summit`) on Salesforce: two studios with a Twilio number each, a manager and two staff, and
  a second CRM, its marketing team's HubSpot portal, kept in step with Salesforce by a two-way link (a draft: a
  manager previews and starts it);
- Peak Performance Gyms (`peak`) on HubSpot: two studios with a Twilio number each, a manager and two staff;
- Harbor Fitness Group (`harbor`) on Dynamics 365: two studios with a Twilio number each, a manager and two staff.

They are the sandbox's demo world (sandbox/worlds.py) seen from the product, so their accounts are of the kinds
the sandbox emulates and their members are the CRM orgs' users: each member's `crm_user_ids` names the sandbox
user they are on their organization's CRM connection. The values are the sandbox's, written out here (the product
does not import the sandbox)."""

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

# The Salesforce demo organization (sandbox/worlds.py DEMO_SF_*): its org, connected app, ready grant, users, and
# the token its record-triggered Flow's HTTP callout carries.
DEMO_SF_ORGANIZATION = "summit"
DEMO_SF_CONNECTION = "summit-salesforce"
DEMO_SF_ORG_ID = "00D5g00000DEMOSEA5"
DEMO_SF_ORG_NAME = "Summit Fitness Co."
DEMO_SF_CLIENT_ID = "3MVG9DEMO.leadline.summit.sandbox.ConsumerKey"
DEMO_SF_CLIENT_SECRET = "demo-salesforce-client-secret-not-secret"  # noqa: S105 (public demo value)
DEMO_SF_REFRESH_TOKEN = "demo-salesforce-refresh-token-not-secret"  # noqa: S105 (public demo value)
DEMO_SF_LEAD_WEBHOOK_TOKEN = "demo-salesforce-new-lead-token-not-secret"  # noqa: S105 (public demo value)
DEMO_SF_MANAGER_ID = "0055g0000000001AAA"  # Riley Reyes, the org's admin, who granted the demo connection
DEMO_SF_MANAGER_EMAIL = "manager@summit.leadline.test"
DEMO_SF_STAFF = (  # (email, name, studio, Salesforce user id)
    ("casey@summit.leadline.test", "Casey Chen", "ridge", "0055g0000000002AAA"),
    ("devon@summit.leadline.test", "Devon Diaz", "valley", "0055g0000000003AAA"),
)


# Summit's second CRM connection, its marketing team's HubSpot portal (sandbox/worlds.py DEMO_SUMMIT_HS_*, the same
# demo app as Peak's), and the two-way link between it and Summit's Salesforce org (docs/links.md): Salesforce Leads
# ⇄ HubSpot contacts, matched by the Leadline id both sides carry, else e-mail, else phone. A draft until a manager
# previews and starts it; sales owns the owner and the status, marketing the city, both the name, e-mail and phone.
DEMO_SUMMIT_HS_CONNECTION = "summit-hubspot"
DEMO_SUMMIT_HS_PORTAL_ID = "24681358"
DEMO_SUMMIT_HS_PORTAL_NAME = "Summit Marketing"
DEMO_SUMMIT_HS_DOMAIN = "summitfitness.com"
DEMO_SUMMIT_HS_REFRESH_TOKEN = "na1-demo-summit-hubspot-refresh-token-not-secret"  # noqa: S105 (public demo value)
DEMO_SUMMIT_HS_MANAGER_USER_ID = "9200001"  # Riley Reyes's HubSpot user (the install's), owner 72003001
DEMO_SUMMIT_HS_OWNERS = {  # member e-mail -> their HubSpot owner id in Summit Marketing
    DEMO_SF_MANAGER_EMAIL: "72003001",
    "casey@summit.leadline.test": "72003002",
    "devon@summit.leadline.test": "72003003",
}
DEMO_SUMMIT_LINK = "summit-sync"
# Salesforce Lead Status -> HubSpot lead status (sales owns it; marketing sees where a lead is).
DEMO_SUMMIT_STATUSES = {
    "Open - Not Contacted": "NEW",
    "Working - Contacted": "IN_PROGRESS",
    "Closed - Converted": "CONNECTED",
    "Closed - Not Converted": "UNQUALIFIED",
}

# The HubSpot demo organization (sandbox/worlds.py DEMO_HS_*): its portal, Leadline's demo app, the manager's
# install and the portal's owners (members are known by owner id; sign-in names the user, turned into the owner).
DEMO_HS_ORGANIZATION = "peak"
DEMO_HS_CONNECTION = "peak-hubspot"
DEMO_HS_ORG_NAME = "Peak Performance Gyms"
DEMO_HS_PORTAL_ID = "24681357"
DEMO_HS_DOMAIN = "peakperformancegyms.com"
DEMO_HS_APP_ID = "4242001"
DEMO_HS_CLIENT_ID = "leadline-demo-hubspot-client-id"
DEMO_HS_CLIENT_SECRET = "demo-hubspot-client-secret-not-secret"  # noqa: S105 (public demo value)
DEMO_HS_REFRESH_TOKEN = "na1-demo-hubspot-refresh-token-not-secret"  # noqa: S105 (public demo value)
DEMO_HS_MANAGER = ("manager@peak.leadline.test", "Parker Price", "71002001", "9100001")  # email, name, owner, user
DEMO_HS_STAFF = (  # (email, name, studio, HubSpot owner id)
    ("jordan@peak.leadline.test", "Jordan James", "boulder", "71002002"),
    ("sam@peak.leadline.test", "Sam Santos", "denver", "71002003"),
)

# The Dynamics 365 demo organization (sandbox/worlds.py DEMO_DV_*): its Entra tenant, the environment harborfit
# (served under /dynamics/harborfit of the sandbox, Entra on the sandbox's HTTPS listener), Leadline's application
# user there, the webhook's key and the environment's system users (members are known by system user id; sign-in
# names the Entra object id, turned into the system user).
DEMO_DV_ORGANIZATION = "harbor"
DEMO_DV_CONNECTION = "harbor-dynamics"
DEMO_DV_ORG_NAME = "Harbor Fitness Group"
DEMO_DV_TENANT_ID = "7e3c1f0a-2b4d-4c6e-9a8b-5d6f7a8b9c0d"
DEMO_DV_ENVIRONMENT = "harborfit"
DEMO_DV_ORGANIZATION_ID = "5f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"
DEMO_DV_APPLICATION_USER_ID = "9c8b7a60-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
DEMO_DV_WEBHOOK_KEY = "demo-dynamics-webhook-key-not-secret"
DEMO_DV_MANAGER = ("manager@harbor.leadline.test", "Harper Hayes", "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b01")
DEMO_DV_STAFF = (  # (email, name, studio, system user id)
    ("rowan@harbor.leadline.test", "Rowan Reed", "embarcadero", "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b02"),
    ("taylor@harbor.leadline.test", "Taylor Tran", "marina", "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b03"),
)


def demo_environment_url(sandbox_url: str) -> str:
    """The demo environment's URL: the sandbox serves each environment under /dynamics/<name>."""
    return f"{sandbox_url.rstrip('/')}/dynamics/{DEMO_DV_ENVIRONMENT}"


def demo_document(*, sandbox_url: str, sandbox_tls_url: str = "") -> dict[str, Any]:
    """`sandbox_tls_url`: the sandbox's HTTPS listener, standing in for Entra ID's login host (msal accepts only an
    https authority); without it the Dynamics demo organization is left out."""
    return {
        "organizations": [
            *_zoho_organization(sandbox_url),
            _salesforce_organization(sandbox_url),
            _hubspot_organization(sandbox_url),
            *([_dynamics_organization(sandbox_url, sandbox_tls_url)] if sandbox_tls_url else []),
        ]
    }


def _twilio_account(name: str, sandbox_url: str) -> dict[str, Any]:
    """A demo organization's Twilio account: the sandbox's demo Twilio account (every organization shares it)."""
    return {
        "name": name,
        "kind": "twilio",
        "default": True,
        "account_sid": "ACde000000000000000000000000000001",
        "auth_token": "demo-twilio-auth-token",
        "api_base_url": sandbox_url,
    }


def _members(
    connection: str, manager: tuple[str, str, str], staff: tuple[tuple[str, str, str, str], ...]
) -> list[dict[str, Any]]:
    """A demo organization's manager (email, name, CRM user id) and staff (email, name, studio, CRM user id), each
    known on the organization's CRM `connection` by that user id."""
    manager_email, manager_name, manager_user_id = manager
    return [
        {
            "email": manager_email,
            "name": manager_name,
            "role": "manager",
            "crm_user_ids": {connection: manager_user_id},
            "password": DEMO_PASSWORDS["manager"],
        },
        *(
            {
                "email": email,
                "name": name,
                "role": "staff",
                "studios": [studio],
                "crm_user_ids": {connection: user_id},
                "password": DEMO_PASSWORDS["staff"],
            }
            for email, name, studio, user_id in staff
        ),
    ]


def _dynamics_organization(sandbox_url: str, sandbox_tls_url: str) -> dict[str, Any]:
    """Harbor Fitness Group, on the sandbox's Dynamics 365 environment harborfit. The account's API domain is the
    sandbox's host and the connection's environment URL carries the environment's path; Leadline's demo Entra app
    is the server's (DEBUG), so the account names no app of its own."""
    return {
        "slug": DEMO_DV_ORGANIZATION,
        "name": DEMO_DV_ORG_NAME,
        "accounts": [
            _twilio_account("harbor-twilio", sandbox_url),
            {
                "name": DEMO_DV_CONNECTION,
                "kind": "dynamics",
                "default": True,
                "accounts_url": sandbox_tls_url,
                "api_domain": sandbox_url,
                "environment_url": demo_environment_url(sandbox_url),
                "timeline_activity": "custom",
                "custom_activity_table": "lh_sms",
                "opt_out_column": "lh_smsoptout",
            },
        ],
        "studios": [
            {"slug": "embarcadero", "name": "Harbor Embarcadero", "time_zone": "America/Los_Angeles"},
            {"slug": "marina", "name": "Harbor Marina", "time_zone": "America/Los_Angeles"},
        ],
        "numbers": [
            {"number": "+14155550130", "provider": "twilio", "studio": "embarcadero", "label": "Harbor Embarcadero"},
            {"number": "+14155550131", "provider": "twilio", "studio": "marina", "label": "Harbor Marina"},
        ],
        "members": _members(DEMO_DV_CONNECTION, DEMO_DV_MANAGER, DEMO_DV_STAFF),
    }


def _hubspot_organization(sandbox_url: str) -> dict[str, Any]:
    """Peak Performance Gyms, on the sandbox's HubSpot portal (the sandbox serves HubSpot under /hubspot of its
    host; the account names the host, as an operator pointing an account at an emulator does)."""
    return {
        "slug": DEMO_HS_ORGANIZATION,
        "name": DEMO_HS_ORG_NAME,
        "accounts": [
            _twilio_account("peak-twilio", sandbox_url),
            {
                "name": DEMO_HS_CONNECTION,
                "kind": "hubspot",
                "default": True,
                "client_id": DEMO_HS_CLIENT_ID,
                "client_secret": DEMO_HS_CLIENT_SECRET,
                "refresh_token": DEMO_HS_REFRESH_TOKEN,
                "accounts_url": sandbox_url,
                "api_domain": sandbox_url,
                "lead_lifecycle_stages": "subscriber,lead,marketingqualifiedlead,salesqualifiedlead",
                "timeline_activity": "communication",
            },
        ],
        "studios": [
            {"slug": "boulder", "name": "Peak Boulder", "time_zone": "America/Denver"},
            {"slug": "denver", "name": "Peak Denver", "time_zone": "America/Denver"},
        ],
        "numbers": [
            {"number": "+14155550120", "provider": "twilio", "studio": "boulder", "label": "Peak Boulder"},
            {"number": "+14155550121", "provider": "twilio", "studio": "denver", "label": "Peak Denver"},
        ],
        "members": _members(DEMO_HS_CONNECTION, DEMO_HS_MANAGER[:3], DEMO_HS_STAFF),  # known by owner id
    }


def _salesforce_organization(sandbox_url: str) -> dict[str, Any]:
    """Summit Fitness Co., on the sandbox's Salesforce org (its instance is the sandbox's own address)."""
    return {
        "slug": DEMO_SF_ORGANIZATION,
        "name": DEMO_SF_ORG_NAME,
        "lead_webhook_token": DEMO_SF_LEAD_WEBHOOK_TOKEN,
        "accounts": [
            _twilio_account("summit-twilio", sandbox_url),
            {
                "name": DEMO_SF_CONNECTION,
                "kind": "salesforce",
                "default": True,
                "client_id": DEMO_SF_CLIENT_ID,
                "client_secret": DEMO_SF_CLIENT_SECRET,
                "refresh_token": DEMO_SF_REFRESH_TOKEN,
                "accounts_url": sandbox_url,
                "api_domain": sandbox_url,
            },
            _summit_hubspot_account(sandbox_url),
        ],
        "studios": [
            {"slug": "ridge", "name": "Summit Ridge", "time_zone": "America/Denver"},
            {"slug": "valley", "name": "Summit Valley", "time_zone": "America/Denver"},
        ],
        "numbers": [
            {"number": "+14155550110", "provider": "twilio", "studio": "ridge", "label": "Summit Ridge"},
            {"number": "+14155550111", "provider": "twilio", "studio": "valley", "label": "Summit Valley"},
        ],
        "members": [
            {
                **member,
                "crm_user_ids": {
                    **member["crm_user_ids"],
                    DEMO_SUMMIT_HS_CONNECTION: DEMO_SUMMIT_HS_OWNERS[member["email"]],
                },
            }
            for member in _members(
                DEMO_SF_CONNECTION, (DEMO_SF_MANAGER_EMAIL, "Riley Reyes", DEMO_SF_MANAGER_ID), DEMO_SF_STAFF
            )
        ],
        "links": [_summit_link()],
    }


def _summit_hubspot_account(sandbox_url: str) -> dict[str, Any]:
    """Summit Marketing, the HubSpot portal of Summit's marketing team: a second CRM connection (not the default)."""
    return {
        "name": DEMO_SUMMIT_HS_CONNECTION,
        "kind": "hubspot",
        "default": False,
        "client_id": DEMO_HS_CLIENT_ID,
        "client_secret": DEMO_HS_CLIENT_SECRET,
        "refresh_token": DEMO_SUMMIT_HS_REFRESH_TOKEN,
        "accounts_url": sandbox_url,
        "api_domain": sandbox_url,
        "timeline_activity": "communication",
    }


def _summit_link() -> dict[str, Any]:
    """Salesforce Leads ⇄ Summit Marketing's contacts. Contacts marketing alone has are not made into Leads
    (`create.a` off: sales takes leads from its own Flow); Leads reach marketing as new contacts."""
    return {
        "name": DEMO_SUMMIT_LINK,
        "a": DEMO_SF_CONNECTION,
        "b": DEMO_SUMMIT_HS_CONNECTION,
        "time_zone": "America/Denver",
        "objects": [
            {
                "a": "lead",
                # HubSpot's leads are its contacts: its mirror keeps them once, as "lead" (SYNC_MODULES lists it first),
                # and a link names an object as its side's mirror keeps it.
                "b": "lead",
                "external_id": {"a": "Leadline_Id__c", "b": "leadline_id"},
                "match_by": ["external_id", "email", "phone"],
                "create": {"a": False, "b": True},
                "deletes": "ignore",
                "fields": [
                    {"a": "FirstName", "b": "firstname"},
                    {"a": "LastName", "b": "lastname"},
                    {"a": "Email", "b": "email"},
                    {"a": "Phone", "b": "phone"},
                    {"a": "OwnerId", "b": "hubspot_owner_id", "direction": "a_to_b"},
                    {
                        "a": "Status",
                        "b": "hs_lead_status",
                        "direction": "a_to_b",
                        "values": {"a_to_b": DEMO_SUMMIT_STATUSES},
                    },
                    {"a": "City", "b": "city", "direction": "b_to_a"},
                ],
            }
        ],
    }


def _zoho_organization(sandbox_url: str) -> list[dict[str, Any]]:
    """Demo Fitness Co., on the sandbox's Zoho CRM org."""
    return [
        {
            "slug": "demo",
            "name": "Demo Fitness Co.",
            "accounts": [
                _twilio_account("demo-twilio", sandbox_url),
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
