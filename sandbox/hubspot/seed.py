"""Realistic HubSpot data, fast: contacts with phones in the formats people type, lifecycle stages and lead
statuses, owners, companies (contacts associated with them, the primary one too), deals and tasks.

`seed_contacts(portal, 12_000, seed=...)` writes rows directly into the store and re-sorts its indexes once (no
changes announced), so tens of thousands take a few seconds; `same_modified=` gives every one the same modified
time (HubSpot's month-end batch updates). Values come from the kit's Faker (repeatable per seed and object type).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.schema import BOOL_OPTIONS, STANDARD_GROUPS, definition
from sandbox.kit.seeding import Faker

if TYPE_CHECKING:
    from sandbox.hubspot.state import HubSpotState, Portal

# Lifecycle stages as a gym's CRM holds them: mostly new leads, some customers, some with none.
STAGES = (
    ("lead", 40),
    ("subscriber", 12),
    ("marketingqualifiedlead", 10),
    ("salesqualifiedlead", 8),
    ("opportunity", 5),
    ("customer", 12),
    ("other", 3),
    ("", 10),
)
LEAD_STATUSES = ("", "", "NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED", "UNQUALIFIED")
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "contractsent",
    "closedwon",
    "closedlost",
)


_STAGE_VALUES = tuple(value for value, _ in STAGES)
_STAGE_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight in STAGES))


def _stage(faker: Faker) -> str:
    return faker.rng.choices(_STAGE_VALUES, cum_weights=_STAGE_CUMULATIVE)[0]


def add_opt_out_property(portal: Portal, name: str = "leadline_sms_opt_out") -> None:
    """The custom boolean contact property Leadline's install guide asks for (its SMS opt-out ledger)."""
    portal.properties["contacts"].setdefault(
        name,
        definition(
            name,
            "Leadline SMS opt-out",
            "bool",
            "booleancheckbox",
            group="contactinformation",
            options=BOOL_OPTIONS,
            hubspot_defined=False,
            description="Set by Leadline when the contact texts STOP; cleared on START.",
        ),
    )


EXTERNAL_ID_PROPERTY = "leadline_id"
EXTERNAL_ID_TYPES = ("contacts", "companies", "deals")


def add_external_id_property(portal: Portal, name: str = EXTERNAL_ID_PROPERTY) -> None:
    """The custom unique-value property Leadline's install guide asks for on contacts, companies and deals
    (hasUniqueValue: two-way sync upserts by it, so a retried create never makes a second record)."""
    for object_type in EXTERNAL_ID_TYPES:
        portal.properties[object_type].setdefault(
            name,
            definition(
                name,
                "Leadline ID",
                group=STANDARD_GROUPS[object_type],
                unique=True,
                hubspot_defined=False,
                description="Leadline's id of the record (two-way sync); unique.",
            ),
        )


def _owner_ids(portal: Portal) -> list[str]:
    return [str(owner["id"]) for owner in portal.owners if not owner.get("archived")] or [""]


def seed_companies(portal: Portal, count: int, *, seed: int) -> list[str]:
    faker = Faker.for_seed(seed, f"hubspot:{portal.portal_id}:companies")
    now = portal.sandbox.clock.now()
    owners = _owner_ids(portal)
    rows = []
    for created, modified in faker.times(count, now=now, days=400):
        name = faker.company()
        city, state = faker.city()
        values = {
            "name": name,
            "domain": name.lower().replace(" ", "") + ".com",
            "city": city,
            "state": state,
            "phone": faker.phone(),
            "hubspot_owner_id": faker.rng.choice(owners),
        }
        rows.append(portal.new_record("companies", values, at=modified, created_at=created))
    portal.put_rows("companies", rows)
    return [row["id"] for row in rows]


def seed_contacts(
    portal: Portal,
    count: int,
    *,
    seed: int,
    same_modified: datetime | None = None,
    companies: list[str] | None = None,
    stream: str = "contacts",
) -> list[str]:
    """`count` contacts written directly (fast); `companies` to associate about half of them with (primary)."""
    faker = Faker.for_seed(seed, f"hubspot:{portal.portal_id}:{stream}")
    now = portal.sandbox.clock.now()
    owners = _owner_ids(portal)
    start = len(portal.stores["contacts"]) + len(portal.archived["contacts"])
    has_opt_out = "leadline_sms_opt_out" in portal.properties["contacts"]
    rows = []
    for number, (created, modified) in enumerate(faker.times(count, now=now), start=start + 1):
        first, last = faker.person()
        city, state = faker.city()
        values: dict[str, Any] = {
            "firstname": first,
            "lastname": last,
            "email": faker.email(first, last, number),
            "phone": faker.phone(),
            "city": city,
            "state": state,
            "lifecyclestage": _stage(faker),
            "hs_lead_status": faker.rng.choice(LEAD_STATUSES),
            "hubspot_owner_id": faker.rng.choice(owners),
        }
        if faker.rng.random() < 0.3:
            values["mobilephone"] = faker.phone()
        if has_opt_out and faker.rng.random() < 0.05:
            values["leadline_sms_opt_out"] = "true"
        if same_modified is not None:
            created, modified = min(created, same_modified), same_modified
        rows.append(portal.new_record("contacts", values, at=modified, created_at=created))
    if companies:
        for row in rows:
            if faker.rng.random() < 0.5:
                company = faker.rng.choice(companies)
                row["properties"]["associatedcompanyid"] = company
                portal.associations.add("contacts", row["id"], "companies", company, 1)
    portal.put_rows("contacts", rows)
    return [row["id"] for row in rows]


def seed_deals(portal: Portal, count: int, *, seed: int, contacts: list[str], companies: list[str]) -> list[str]:
    faker = Faker.for_seed(seed, f"hubspot:{portal.portal_id}:deals")
    now = portal.sandbox.clock.now()
    owners = _owner_ids(portal)
    rows = []
    for created, modified in faker.times(count, now=now, days=180):
        stage = faker.rng.choice(DEAL_STAGES)
        values = {
            "dealname": f"{faker.rng.choice(('Annual', 'Monthly', 'Class pack', 'Personal training'))} membership",
            "amount": str(faker.rng.choice((99, 149, 240, 600, 1200, 1800))),
            "dealstage": stage,
            "pipeline": "default",
            "closedate": (created + timedelta(days=faker.rng.randint(7, 60))).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "hubspot_owner_id": faker.rng.choice(owners),
        }
        rows.append(portal.new_record("deals", values, at=modified, created_at=created))
    for row in rows:
        if contacts:
            portal.associations.add("deals", row["id"], "contacts", faker.rng.choice(contacts))
        if companies and faker.rng.random() < 0.6:
            portal.associations.add("deals", row["id"], "companies", faker.rng.choice(companies), 5)
    portal.put_rows("deals", rows)
    return [row["id"] for row in rows]


def seed_tasks(portal: Portal, count: int, *, seed: int, contacts: list[str]) -> list[str]:
    faker = Faker.for_seed(seed, f"hubspot:{portal.portal_id}:tasks")
    now = portal.sandbox.clock.now()
    owners = _owner_ids(portal)
    rows = []
    for created, modified in faker.times(count, now=now, days=30):
        due = created + timedelta(days=faker.rng.randint(0, 5))
        values = {
            "hs_timestamp": due.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "hs_task_subject": faker.rng.choice(("Call back", "Book a trial class", "Follow up on pricing")),
            "hs_task_body": "",
            "hs_task_status": faker.rng.choice(("NOT_STARTED", "NOT_STARTED", "COMPLETED")),
            "hs_task_priority": faker.rng.choice(("NONE", "LOW", "MEDIUM", "HIGH")),
            "hs_task_type": "TODO",
            "hubspot_owner_id": faker.rng.choice(owners),
        }
        rows.append(portal.new_record("tasks", values, at=modified, created_at=created))
    for row in rows:
        if contacts:
            portal.associations.add("tasks", row["id"], "contacts", faker.rng.choice(contacts), 204)
    portal.put_rows("tasks", rows)
    return [row["id"] for row in rows]


def owner_records(specs: Any, *, stamp: str) -> list[dict[str, Any]]:
    return [
        {"type": "PERSON", "createdAt": stamp, "updatedAt": stamp, "archived": False, "teams": [], **dict(spec)}
        for spec in specs
    ]


def seed_demo_portal(hs: HubSpotState, name: str, *, seed: int) -> None:
    """The demo app and portal (sandbox/worlds.py DEMO_HS_*); records only in the "demo" world."""
    from sandbox import worlds
    from sandbox.hubspot.schema import iso_ms

    stamp = iso_ms(hs.sandbox.clock.now() - timedelta(days=400))
    app = hs.create_app(
        app_id=worlds.DEMO_HS_APP_ID,
        client_id=worlds.DEMO_HS_CLIENT_ID,
        client_secret=worlds.DEMO_HS_CLIENT_SECRET,
        name="Leadline",
    )
    portal = hs.create_portal(
        portal_id=worlds.DEMO_HS_PORTAL_ID,
        name=worlds.DEMO_HS_PORTAL_NAME,
        domain=worlds.DEMO_HS_DOMAIN,
        owners=owner_records(worlds.DEMO_HS_OWNERS, stamp=stamp),
    )
    add_opt_out_property(portal, worlds.DEMO_HS_OPT_OUT_PROPERTY)
    add_external_id_property(portal)
    manager = worlds.DEMO_HS_OWNERS[0]["userId"]
    hs.install(app, portal, manager, worlds.DEMO_HS_SCOPES, token=worlds.DEMO_HS_REFRESH_TOKEN)
    if name != "demo":
        return
    companies = seed_companies(portal, worlds.DEMO_HS_COMPANIES, seed=seed)
    contacts = seed_contacts(portal, worlds.DEMO_HS_CONTACTS, seed=seed, companies=companies)
    seed_deals(portal, worlds.DEMO_HS_DEALS, seed=seed, contacts=contacts, companies=companies)
    seed_tasks(portal, 30, seed=seed, contacts=contacts)
    # The demo app's webhooks point at the product, as docs/crm/hubspot.md has an operator set them; after the seed,
    # so the seeded records announce nothing (a contact added now starts lead automation in `make run`).
    from sandbox.hubspot import webhooks

    target = hs.sandbox.config.product_base_url.rstrip("/") + worlds.DEMO_HS_EVENTS_PATH
    webhooks.configure(
        hs,
        app,
        target_url=target,
        subscriptions=[
            {"eventType": "object.creation", "objectTypeId": "0-1"},
            {"eventType": "object.deletion", "objectTypeId": "0-1"},
        ],
    )
