"""Starting data. "demo" mirrors the product's demo organizations (tenants/demo.py): the same Zoho client and
refresh tokens, Zoho users whose ids are the demo members' CRM user ids, the same Twilio account and
numbers, and a Salesforce org for the second demo organization, so `make run` works end to end. "empty" has only
the accounts (the orgs and their users, no records), for tests that build their own data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.state import SandboxState

# Zoho: one org, one OAuth client, a refresh token for CRM and one for Voice (as in tenants/demo.py).
DEMO_ZOHO_ORG_ID = "10234695"
DEMO_ZOHO_ORG_NAME = "Demo Fitness Co."
DEMO_CLIENT_ID = "1000.DEMOCLIENTID"
DEMO_CLIENT_SECRET = "demo-zoho-client-secret"
DEMO_CRM_REFRESH_TOKEN = "1000.demo.refresh-token"
DEMO_VOICE_REFRESH_TOKEN = "1000.demo.voice-refresh-token"
DEMO_REDIRECT_URIS = (
    "http://127.0.0.1:8000/zoho/oauth/callback/",
    "http://localhost:8000/zoho/oauth/callback/",
    "http://127.0.0.1:8000/auth/zoho/callback",  # "Sign in with Zoho" (accounts/)
    "http://localhost:8000/auth/zoho/callback",
)
# Zoho CRM users: ids match the demo members' CRM user ids; the manager is the org admin (token owner).
DEMO_USERS = (
    {
        "id": "4150868000000225001",
        "first_name": "Morgan",
        "last_name": "Manager",
        "email": "manager@demo.leadline.test",
        "role": "CEO",
        "profile": "Administrator",
    },
    {
        "id": "4150868000000225002",
        "first_name": "Ana",
        "last_name": "Alvarez",
        "email": "ana@demo.leadline.test",
        "role": "Manager",
        "profile": "Standard",
    },
    {
        "id": "4150868000000225003",
        "first_name": "Ben",
        "last_name": "Brooks",
        "email": "ben@demo.leadline.test",
        "role": "Manager",
        "profile": "Standard",
    },
)
# Twilio: the demo account and its numbers (shared main line + one per studio; Harbor is on Zoho Voice).
DEMO_TWILIO_ACCOUNT_SID = "ACde000000000000000000000000000001"
DEMO_TWILIO_AUTH_TOKEN = "demo-twilio-auth-token"
DEMO_TWILIO_NUMBERS = ("+14155550100", "+14155550101", "+14155550102")
DEMO_VOICE_NUMBERS = ("+14155550103",)
# Twilio numbers of the Salesforce demo organization's two studios (same demo Twilio account).
DEMO_SF_TWILIO_NUMBERS = ("+14155550110", "+14155550111")
# Where Twilio posts inbound texts and status callbacks in the product (the messaging issue's webhook paths).
TWILIO_SMS_PATH = "/webhooks/twilio/sms/"
TWILIO_STATUS_PATH = "/webhooks/twilio/status/"
# The demo organization's new-lead webhook (the token is public, like every demo secret; tenants/demo.py).
DEMO_LEAD_WEBHOOK_TOKEN = "demo-new-lead-webhook-token-not-secret"
DEMO_LEAD_WEBHOOK_PATH = f"/webhooks/zoho/leads/{DEMO_LEAD_WEBHOOK_TOKEN}/"

# Salesforce: the second demo organization's org ("Summit Fitness Co."), its connected app and a ready grant for
# the manager (the product's demo connection uses this refresh token). Ids are real 18-character ids: the org id
# is to18("00D5g00000DEMOS"); users are 005 ids of the org (sandbox/salesforce/ids.py). Its instance_url is the
# sandbox's own base URL (whatever host the token call came to).
DEMO_SF_ORG_ID = "00D5g00000DEMOSEA5"
DEMO_SF_ORG_NAME = "Summit Fitness Co."
DEMO_SF_MY_DOMAIN = "summitfitness"
DEMO_SF_CLIENT_ID = "3MVG9DEMO.leadline.summit.sandbox.ConsumerKey"
DEMO_SF_CLIENT_SECRET = "demo-salesforce-client-secret-not-secret"
DEMO_SF_REFRESH_TOKEN = "demo-salesforce-refresh-token-not-secret"
DEMO_SF_REDIRECT_URIS = (
    "http://127.0.0.1:8000/crm/oauth/callback",
    "http://localhost:8000/crm/oauth/callback",
    "http://127.0.0.1:8000/salesforce/oauth/callback/",
    "http://localhost:8000/salesforce/oauth/callback/",
)
# Users: the manager (the org's admin, who granted the demo connection) and two staff members.
DEMO_SF_USERS = (
    {
        "id": "0055g0000000001AAA",
        "first_name": "Riley",
        "last_name": "Reyes",
        "email": "manager@summit.leadline.test",
        "title": "Studio Manager",
    },
    {
        "id": "0055g0000000002AAA",
        "first_name": "Casey",
        "last_name": "Chen",
        "email": "casey@summit.leadline.test",
        "title": "Front Desk",
    },
    {
        "id": "0055g0000000003AAA",
        "first_name": "Devon",
        "last_name": "Diaz",
        "email": "devon@summit.leadline.test",
        "title": "Coach",
    },
)
DEMO_SF_LEADS = 150
# The org's record-triggered Flow posts new Leads here (tenants/demo.py gives the product the same token).
DEMO_SF_LEAD_WEBHOOK_TOKEN = "demo-salesforce-new-lead-token-not-secret"
DEMO_SF_LEAD_WEBHOOK_PATH = f"/webhooks/crm/salesforce/leads/{DEMO_SF_LEAD_WEBHOOK_TOKEN}/"

# HubSpot: the third demo organization's portal ("Peak Performance Gyms"), Leadline's public app on HubSpot's
# developer platform (crm/providers/hubspot/conf.py uses the same demo client id, secret and app id when DEBUG) and
# the manager's install (the product's demo connection uses this refresh token). Owner ids are what records'
# hubspot_owner_id hold (the demo members' CRM user ids); user ids are what token info and sign-in give.
DEMO_HS_PORTAL_ID = 24_681_357
DEMO_HS_PORTAL_NAME = "Peak Performance Gyms"
DEMO_HS_DOMAIN = "peakperformancegyms.com"
DEMO_HS_APP_ID = "4242001"
DEMO_HS_CLIENT_ID = "leadline-demo-hubspot-client-id"
# Where the demo app's webhooks go in the product (one URL for every portal).
DEMO_HS_EVENTS_PATH = "/webhooks/crm/hubspot/events/"
DEMO_HS_CLIENT_SECRET = "demo-hubspot-client-secret-not-secret"
DEMO_HS_REFRESH_TOKEN = "na1-demo-hubspot-refresh-token-not-secret"
# The demo app accepts any redirect URL (the product runs on many hosts in development and tests); apps made with
# the control API may list theirs.

# The scopes the demo install granted (the product's HUBSPOT_SCOPES and the engagement objects it writes).
DEMO_HS_SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.companies.read",
    "crm.objects.companies.write",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
    "crm.schemas.companies.read",
    "crm.schemas.deals.read",
)
DEMO_HS_OWNERS = (
    {
        "id": "71002001",
        "userId": 9_100_001,
        "email": "manager@peak.leadline.test",
        "firstName": "Parker",
        "lastName": "Price",
    },
    {
        "id": "71002002",
        "userId": 9_100_002,
        "email": "jordan@peak.leadline.test",
        "firstName": "Jordan",
        "lastName": "James",
    },
    {
        "id": "71002003",
        "userId": 9_100_003,
        "email": "sam@peak.leadline.test",
        "firstName": "Sam",
        "lastName": "Santos",
    },
)
DEMO_HS_CONTACTS = 150
DEMO_HS_COMPANIES = 12
DEMO_HS_DEALS = 20
# The custom contact property the install guide asks for: the opt-out ledger Leadline writes.
DEMO_HS_OPT_OUT_PROPERTY = "leadline_sms_opt_out"
# Twilio numbers of the HubSpot demo organization's two studios (same demo Twilio account; the Twilio emulator's
# demo world lists them beside DEMO_SF_TWILIO_NUMBERS).
DEMO_HS_TWILIO_NUMBERS = ("+14155550120", "+14155550121")


# Dynamics 365: the fourth demo organization's Entra tenant and Dataverse environment ("Harbor Fitness Group",
# environment harborfit at {SANDBOX_URL}/dynamics/harborfit), Leadline's multi-tenant Entra app consented there
# with its application user, and the environment's system users (the demo members' CRM user ids; sign-in gives
# the object id, turned into the system user). The product's demo (tenants/demo.py) repeats these values.
DEMO_DV_TENANT_ID = "7e3c1f0a-2b4d-4c6e-9a8b-5d6f7a8b9c0d"
DEMO_DV_TENANT_NAME = "Harbor Fitness Group"
DEMO_DV_ENVIRONMENT = "harborfit"
DEMO_DV_ORGANIZATION_ID = "5f1a2b3c-4d5e-4f60-8a71-92b3c4d5e6f7"
DEMO_DV_ORGANIZATION_NAME = "Harbor Fitness Group"
DEMO_DV_APPLICATION_USER_ID = "9c8b7a60-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
DEMO_DV_USERS = (  # the environment's people: system user id, Entra object id, name, e-mail
    {
        "systemuserid": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b01",
        "azureactivedirectoryobjectid": "b0c1d2e3-f4a5-4b6c-9d7e-8f9a0b1c2d01",
        "fullname": "Harper Hayes",
        "internalemailaddress": "manager@harbor.leadline.test",
    },
    {
        "systemuserid": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b02",
        "azureactivedirectoryobjectid": "b0c1d2e3-f4a5-4b6c-9d7e-8f9a0b1c2d02",
        "fullname": "Rowan Reed",
        "internalemailaddress": "rowan@harbor.leadline.test",
    },
    {
        "systemuserid": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b03",
        "azureactivedirectoryobjectid": "b0c1d2e3-f4a5-4b6c-9d7e-8f9a0b1c2d03",
        "fullname": "Taylor Tran",
        "internalemailaddress": "taylor@harbor.leadline.test",
    },
)
# The demo webhook registration's auth header value (x-leadline-webhook-key), the demo connection's webhook secret.
DEMO_DV_WEBHOOK_KEY = "demo-dynamics-webhook-key-not-secret"
DEMO_DV_EVENTS_PATH = "/webhooks/crm/dynamics/events/"
DEMO_DV_TWILIO_NUMBERS = ("+14155550130", "+14155550131")


# Summit's second CRM: the marketing team's HubSpot portal ("Summit Marketing"), Leadline's demo app installed there
# by the manager, the same three people as owners, and contacts that overlap the Summit Salesforce org's Leads (the
# demo's two-way link, tenants/demo.py): the same person by e-mail, by phone only, and a few e-mails held by two
# contacts (ambiguous matches a manager resolves), beside marketing-only contacts.
DEMO_SUMMIT_HS_PORTAL_ID = 24_681_358
DEMO_SUMMIT_HS_PORTAL_NAME = "Summit Marketing"
DEMO_SUMMIT_HS_DOMAIN = "summitfitness.com"
DEMO_SUMMIT_HS_REFRESH_TOKEN = "na1-demo-summit-hubspot-refresh-token-not-secret"
DEMO_SUMMIT_HS_OWNERS = (  # the Salesforce org's users, as owners of the portal (by e-mail)
    {
        "id": "72003001",
        "userId": 9_200_001,
        "email": "manager@summit.leadline.test",
        "firstName": "Riley",
        "lastName": "Reyes",
    },
    {
        "id": "72003002",
        "userId": 9_200_002,
        "email": "casey@summit.leadline.test",
        "firstName": "Casey",
        "lastName": "Chen",
    },
    {
        "id": "72003003",
        "userId": 9_200_003,
        "email": "devon@summit.leadline.test",
        "firstName": "Devon",
        "lastName": "Diaz",
    },
)
DEMO_SUMMIT_HS_BY_EMAIL = 40  # contacts that are one of the org's Leads by e-mail (every third with another city)
DEMO_SUMMIT_HS_BY_PHONE = 8  # the same person under another e-mail, found by phone
DEMO_SUMMIT_HS_AMBIGUOUS = 3  # Leads whose e-mail two contacts hold
DEMO_SUMMIT_HS_ONLY = 20  # marketing's own contacts


def seed_summit_marketing(state: SandboxState, name: str, *, seed: int) -> None:
    """The Summit Marketing portal (DEMO_SUMMIT_HS_*), with the demo app installed; in the "demo" world its
    contacts, made from the Summit Salesforce org's Leads so the demo's link has people to match."""
    from sandbox.hubspot.seed import add_external_id_property, add_opt_out_property, owner_records, seed_contacts

    hs = state.hubspot
    app = next(app for app in hs.apps.values() if app.client_id == DEMO_HS_CLIENT_ID)
    stamp = (state.clock.now()).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    portal = hs.create_portal(
        portal_id=DEMO_SUMMIT_HS_PORTAL_ID,
        name=DEMO_SUMMIT_HS_PORTAL_NAME,
        domain=DEMO_SUMMIT_HS_DOMAIN,
        owners=owner_records(DEMO_SUMMIT_HS_OWNERS, stamp=stamp),
        time_zone="US/Mountain",
        utc_offset_hours=-7.0,
    )
    add_opt_out_property(portal, DEMO_HS_OPT_OUT_PROPERTY)
    add_external_id_property(portal)
    hs.install(app, portal, DEMO_SUMMIT_HS_OWNERS[0]["userId"], DEMO_HS_SCOPES, token=DEMO_SUMMIT_HS_REFRESH_TOKEN)
    if name != "demo":
        return
    org = state.salesforce.org(DEMO_SF_ORG_ID)
    owner_of = {user["id"]: owner["id"] for user, owner in zip(DEMO_SF_USERS, DEMO_SUMMIT_HS_OWNERS, strict=True)}
    leads = [
        lead
        for lead in sorted(org.stores["Lead"].records.values(), key=lambda lead: lead["Id"])
        if lead.get("Email") and (lead.get("Phone") or lead.get("MobilePhone")) and not lead.get("IsConverted")
    ]
    now = state.clock.now()
    rows = []

    def contact(lead: dict, *, email: str, **values: str) -> None:
        properties = {
            "firstname": lead.get("FirstName") or "",
            "lastname": lead["LastName"],
            "email": email,
            "phone": lead.get("Phone") or lead.get("MobilePhone") or "",
            "city": lead.get("City") or "",
            "lifecyclestage": "lead",
            "hubspot_owner_id": owner_of.get(lead.get("OwnerId"), DEMO_SUMMIT_HS_OWNERS[0]["id"]),
            **values,
        }
        rows.append(portal.new_record("contacts", properties, at=now, created_at=now))

    by_email = leads[:DEMO_SUMMIT_HS_BY_EMAIL]
    by_phone = leads[DEMO_SUMMIT_HS_BY_EMAIL : DEMO_SUMMIT_HS_BY_EMAIL + DEMO_SUMMIT_HS_BY_PHONE]
    ambiguous = leads[DEMO_SUMMIT_HS_BY_EMAIL + DEMO_SUMMIT_HS_BY_PHONE :][:DEMO_SUMMIT_HS_AMBIGUOUS]
    for number, lead in enumerate(by_email):
        contact(lead, email=lead["Email"].upper() if number % 5 == 0 else lead["Email"])
        if number % 3 == 0:
            rows[-1]["properties"]["city"] = "Boulder"  # marketing's form said otherwise
    for lead in by_phone:
        contact(lead, email="", phone=lead.get("Phone") or lead.get("MobilePhone"))
        rows[-1]["properties"].pop("email", None)
    for lead in ambiguous:  # two contacts with the lead's e-mail: a family's shared address
        contact(lead, email=lead["Email"])
        contact(lead, email=lead["Email"], firstname="Jamie", phone="")
    portal.put_rows("contacts", rows)
    seed_contacts(portal, DEMO_SUMMIT_HS_ONLY, seed=seed, stream="summit-marketing")


def build_world(state: SandboxState, name: str, *, seed: int, leads: int) -> None:
    if name not in ("demo", "empty"):
        raise ValueError(f"unknown sandbox world {name!r}; use 'demo' or 'empty'")
    state.accounts.seed_world(name)
    state.crm.seed_world(name, seed=seed, leads=leads if name == "demo" else 0)
    state.voice.seed_world(name)
    state.twilio.seed_world(name)
    state.salesforce.seed_world(name, seed=seed)
    state.hubspot.seed_world(name, seed=seed)
    state.dynamics.seed_world(name, seed=seed)
    seed_summit_marketing(state, name, seed=seed)
