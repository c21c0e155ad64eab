"""The emulated HubSpot portal of bench/sync_mirror_hubspot.py: Leadline's app installed in it, contacts as a gym
chain's portal holds them (names, e-mails, phones in the formats people type, lifecycle stages, owners, addresses,
30 custom properties, a company each), edited in chunks or stamped with one timestamp, built through the emulator's
state in the parent process (seeding 100,000 contacts over the control API would take minutes)."""

from __future__ import annotations

import random
from typing import Any

OBJECT_TYPE = "contacts"
EDIT_CHUNK = 1000  # contacts edited per chunk, each chunk with its own lastmodifieddate
COMPANIES = 500
PRIMARY = 1  # the contact -> company association type "Primary" (it sets the contact's associatedcompanyid)
CLIENT_ID, CLIENT_SECRET = "bench-hubspot-client-id", "bench-hubspot-client-secret"
OWNERS = [
    {
        "id": str(70_000_001 + number),
        "userId": 9_000_001 + number,
        "email": f"coach{number}@peakgyms.test",
        "firstName": first,
        "lastName": "Coach",
        "archived": False,
    }
    for number, first in enumerate(("Avery", "Blake", "Casey", "Devon", "Emery", "Finley"))
]
STAGES = ("subscriber", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
FIRST = ("Ana", "Ben", "Chloe", "Diego", "Elif", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Marco")
LAST = ("Alvarez", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski")
CITIES = (("Denver", "CO", "80202"), ("Austin", "TX", "78701"), ("Seattle", "WA", "98101"), ("Boston", "MA", "02108"))
# A gym chain's custom contact properties: (name, type, fieldType, options)
CUSTOM = [
    *[(f"peak_note_{n}", "string", "text", ()) for n in range(8)],
    *[(f"peak_visits_{n}", "number", "number", ()) for n in range(6)],
    *[(f"peak_trial_date_{n}", "date", "date", ()) for n in range(4)],
    *[(f"peak_last_checkin_{n}", "datetime", "date", ()) for n in range(4)],
    *[
        (f"peak_goal_{n}", "enumeration", "select", (("Strength", "strength"), ("Cardio", "cardio"), ("Yoga", "yoga")))
        for n in range(4)
    ],
    *[(f"peak_flag_{n}", "bool", "booleancheckbox", (("Yes", "true"), ("No", "false"))) for n in range(3)],
    ("leadline_sms_opt_out", "bool", "booleancheckbox", (("Yes", "true"), ("No", "false"))),
]


class EmulatedPortal:
    """One portal on the emulator, built through its state (the parent holds the emulator): Leadline's app
    installed by the first owner, contacts seeded, edited and stamped in place."""

    def __init__(self, server: Any, *, name: str, seed: int = 7) -> None:
        from sandbox.hubspot.schema import definition

        self.hubspot = server.state.hubspot
        self.portal = self.hubspot.create_portal(name=name, owners=OWNERS)
        for prop, type_, field_type, options in CUSTOM:
            self.portal.properties[OBJECT_TYPE][prop] = definition(
                prop,
                prop.replace("_", " ").title(),
                type_,
                field_type,
                group="peak",
                options=options,
                hubspot_defined=False,
            )
        app = self.hubspot.app_of_client(CLIENT_ID) or self.hubspot.create_app(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, name="Leadline (bench)"
        )
        scopes = (
            "oauth",
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.companies.read",
            "crm.objects.deals.read",
            "crm.objects.owners.read",
            "crm.schemas.contacts.read",
        )
        self.refresh_token = self.hubspot.install(app, self.portal, OWNERS[0]["userId"], scopes).token
        self.random = random.Random(seed)  # noqa: S311 (test data, not secrets)
        self.companies: list[str] = []
        self.ids: list[str] = []

    def seed(self, count: int, *, start: Any, end: Any) -> None:
        """`count` contacts modified between start and end (each its own time), and their companies."""
        portal = self.portal
        companies = [
            portal.new_record("companies", {"name": f"Company {n}", "domain": f"company{n}.test", "city": "Denver"})
            for n in range(COMPANIES)
        ]
        portal.put_rows("companies", companies)
        self.companies = [row["id"] for row in companies]
        step = (end - start) / max(count, 1)
        rows = [self._contact(number, at=start + step * number) for number in range(count)]
        for number, row in enumerate(rows):  # its primary company, as HubSpot names it on the contact
            row["properties"]["associatedcompanyid"] = self.companies[number % COMPANIES]
        portal.put_rows(OBJECT_TYPE, rows)
        self.ids = [row["id"] for row in rows]
        for number, contact_id in enumerate(self.ids):
            portal.associations.add(OBJECT_TYPE, contact_id, "companies", self.companies[number % COMPANIES], PRIMARY)

    def _contact(self, number: int, *, at: Any) -> dict[str, Any]:
        rng = self.random
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, state, zip_code = rng.choice(CITIES)
        area = rng.choice(("303", "512", "206", "617"))
        line = f"{rng.randrange(200, 999)}{rng.randrange(1000, 9999)}"
        phone = rng.choice(
            (f"({area}) {line[:3]}-{line[3:]}", f"+1 {area} {line[:3]} {line[3:]}", f"{area}.{line}", f"1{area}{line}")
        )
        values = {
            "firstname": first,
            "lastname": f"{last}-{number}",
            "email": f"{first}.{last}.{number}@example.test".lower(),
            "phone": phone,
            "mobilephone": f"+1{area}{line}",
            "company": f"Company {number % COMPANIES}",
            "jobtitle": rng.choice(("Teacher", "Nurse", "Engineer", "")),
            "city": city,
            "state": state,
            "zip": zip_code,
            "address": f"{rng.randrange(1, 999)} Main St",
            "lifecyclestage": rng.choice(STAGES),
            "hs_lead_status": rng.choice(("NEW", "OPEN", "IN_PROGRESS", "CONNECTED")),
            "hubspot_owner_id": rng.choice(OWNERS)["id"],
        }
        for prop, type_, _, options in CUSTOM:
            if type_ == "string":
                values[prop] = f"{prop} of contact {number}: prefers mornings"
            elif type_ == "number":
                values[prop] = str(rng.randrange(0, 400))
            elif type_ == "date":
                values[prop] = f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            elif type_ == "datetime":
                values[prop] = f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T07:30:00.000Z"
            else:
                values[prop] = rng.choice(options)[1]
        return self.portal.new_record(OBJECT_TYPE, values, at=at, created_at=at)

    def edit_all(self, *, start: Any, end: Any) -> int:
        """Every contact edited once, in chunks of EDIT_CHUNK, each chunk with its own lastmodifieddate."""
        chunks = range(0, len(self.ids), EDIT_CHUNK)
        step = (end - start) / max(len(chunks), 1)
        for number, first in enumerate(chunks):
            values = {
                "hs_lead_status": ("OPEN", "IN_PROGRESS", "CONNECTED")[number % 3],
                "jobtitle": f"Member #{number}",
                "peak_note_0": f"Edited in the update pass, chunk {number}",
            }
            for contact_id in self.ids[first : first + EDIT_CHUNK]:
                self.portal.update(OBJECT_TYPE, contact_id, values, at=start + step * number, notify=False)
        return len(self.ids)

    def stamp_all(self, at: Any) -> int:
        """Every contact given one lastmodifieddate (HubSpot's own batch update)."""
        return self.portal.stamp(OBJECT_TYPE, self.ids, at)


def organization_create(slug: str, server_url: str, portal: EmulatedPortal) -> int:
    """An organization whose default CRM connection is the emulated portal (the app's install refresh token)."""
    from bench.mirror_report import organization_with_crm

    return organization_with_crm(  # the emulator serves HubSpot under /hubspot
        slug,
        kind="hubspot",
        brand="Gyms",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=portal.refresh_token,
        accounts_url=server_url,
        api_domain=server_url,
    )
