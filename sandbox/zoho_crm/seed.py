"""Deterministic CRM data: N leads plus proportional Accounts, Contacts, Deals, Tasks and Notes.

`random.Random(f"{seed}:{module}")` drives everything, so a seed gives the same records (the ids depend on the
org's id sequence: the same on a fresh world). Records are Zoho-shaped: 19-digit string ids, Owner
`{name, id, email}` among the org's users (one shared dict per user keeps 200,000 leads light), datetimes in
the org's offset, `$currency_symbol` with currency amounts, picklists, multiselects as lists, phone numbers in
the many US formats people type. About 8% of leads are converted (`$converted: true`, `Converted__s`,
`Converted_Date_Time`, `$converted_detail`, and a Contact made from them); converted leads stay readable by
id. Created_Time spreads over the past 120 days in id order; half the records were edited since, with
Modified_Time over the past three weeks. Nothing is announced to listeners (`notify=False`).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.kit.seeding import (
    CITIES,
    COMPANY_KINDS,
    COMPANY_WORDS,
    DAY,
    Faker,
)
from sandbox.zoho_crm import schema
from sandbox.zoho_crm.orgs import minified
from sandbox.zoho_crm.store import format_zoho_datetime

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg

TASK_SUBJECTS = (
    "Call back about the trial class",
    "Reply to SMS",
    "Send the class schedule",
    "Follow up after the free session",
    "Confirm membership paperwork",
    "Book a studio tour",
)
NOTE_TITLES = ("SMS received", "Call summary", "Walk-in visit", "Trial feedback", "Pricing question")


class Seeder:
    def __init__(self, org: ZohoOrg, seed: int, module: str) -> None:
        self.org = org
        self.fake = Faker.for_seed(seed, module)
        self.rng = self.fake.rng
        self.now = org.now()
        self.tz = org.tz
        self.users = list(org.users.values())
        self.owners = [minified(user) for user in self.users]  # shared: one dict per user
        self.makers = [minified(user, email=False) for user in self.users]

    # --- values (people, phones, emails and times from the kit; Zoho's shapes here) -----------------------
    def stamp(self, moment: datetime) -> str:
        return format_zoho_datetime(moment, self.tz)

    def phone(self) -> str:
        return self.fake.phone()

    def person(self) -> tuple[str, str]:
        return self.fake.person()

    def email(self, first: str, last: str, number: int) -> str:
        return self.fake.email(first, last, number)

    def times(self, count: int, *, days: float = 120.0) -> list[tuple[datetime, datetime]]:
        """(Created, Modified) pairs, Created ascending; about half were modified during the past 3 weeks."""
        return self.fake.times(count, now=self.now, days=days)

    def owner_index(self) -> int:
        return self.rng.randrange(len(self.users))

    def system(self, created: datetime, modified: datetime) -> dict[str, Any]:
        owner = self.owner_index()
        editor = owner if modified == created else self.owner_index()
        return {
            "Owner": self.owners[owner],
            "Created_By": self.makers[owner],
            "Modified_By": self.makers[editor],
            "Created_Time": self.stamp(created),
            "Modified_Time": self.stamp(modified),
        }

    def insert(self, module: str, values: dict[str, Any], at: datetime) -> dict[str, Any]:
        return self.org.modules[module].insert(values, at=at, notify=False)

    def pick(self, module: str) -> dict[str, Any] | None:
        store = self.org.modules[module]
        if not store.records:
            return None
        keys = store.id_index  # ascending ints; a random existing record
        return store.records[str(keys[self.rng.randrange(len(keys))])]


def lookup(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    from sandbox.zoho_crm.store import display_name

    return {"name": display_name(record), "id": record["id"]}


def seed_accounts(org: ZohoOrg, count: int, seed: int) -> None:
    s = Seeder(org, seed, "Accounts")
    rng = s.rng
    for number, (created, modified) in enumerate(s.times(count, days=365), start=1):
        city, state = rng.choice(CITIES)
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)} {number}"
        values = {
            **s.system(created, modified),
            "Account_Name": name,
            "Phone": s.phone(),
            "Website": f"www.{name.split()[0].lower()}{number}.com",
            "Industry": rng.choice(schema.INDUSTRIES),
            "Account_Type": rng.choice(schema.ACCOUNT_TYPES),
            "Employees": rng.randint(5, 2000),
            "Annual_Revenue": float(rng.randint(50, 50_000) * 1000),
            "Billing_City": city,
            "Billing_State": state,
            "Studio": rng.choice(schema.STUDIOS),
            "Corporate_Wellness": rng.random() < 0.3,
            "$currency_symbol": "$",
            "$approval_state": "approved",
        }
        s.insert("Accounts", values, created)


def _contact_values(s: Seeder, first: str, last: str, number: int) -> dict[str, Any]:
    rng = s.rng
    city, state = rng.choice(CITIES)
    values: dict[str, Any] = {
        "First_Name": first,
        "Last_Name": last,
        "Full_Name": f"{first} {last}",
        "Email": s.email(first, last, number),
        "Mobile": s.phone(),
        "Mailing_City": city,
        "Mailing_State": state,
        "Lead_Source": rng.choice(schema.LEAD_SOURCES),
        "Studio": rng.choice(schema.STUDIOS),
        "Interests": rng.sample(schema.INTERESTS, rng.randint(0, 3)),
        "SMS_Opt_Out": rng.random() < 0.05,
        "Email_Opt_Out": rng.random() < 0.1,
        "Membership_Type": rng.choice(schema.MEMBERSHIP_TYPES),
        "Membership_Value": float(rng.choice((49, 79, 99, 129, 159, 199))),
        "Member_Number": str(1_000_000_000 + number),
        "$currency_symbol": "$",
        "$approval_state": "approved",
    }
    if rng.random() < 0.4:
        values["Phone"] = s.phone()
    account = s.pick("Accounts") if rng.random() < 0.6 else None
    if account is not None:
        values["Account_Name"] = lookup(account)
    return values


def seed_contacts(org: ZohoOrg, count: int, seed: int) -> None:
    s = Seeder(org, seed, "Contacts")
    start = len(org.modules["Contacts"])
    for number, (created, modified) in enumerate(s.times(count), start=start + 1):
        first, last = s.person()
        values = {**s.system(created, modified), **_contact_values(s, first, last, number)}
        values["Membership_Start_Date"] = created.date().isoformat()
        s.insert("Contacts", values, created)


def seed_leads(org: ZohoOrg, count: int, seed: int, *, converted_share: float = 0.08) -> None:
    s = Seeder(org, seed, "Leads")
    rng = s.rng
    start = len(org.modules["Leads"])
    conversions: list[tuple[dict[str, Any], datetime]] = []
    for number, (created, modified) in enumerate(s.times(count), start=start + 1):
        first, last = s.person()
        city, state = rng.choice(CITIES)
        values: dict[str, Any] = {
            **s.system(created, modified),
            "First_Name": first,
            "Last_Name": last,
            "Full_Name": f"{first} {last}",
            "Lead_Source": rng.choice(schema.LEAD_SOURCES),
            "Lead_Status": rng.choice(schema.LEAD_STATUSES),
            "Email_Opt_Out": rng.random() < 0.1,
            "SMS_Opt_Out": rng.random() < 0.05,
            "Studio": rng.choice(schema.STUDIOS),
            "Interests": rng.sample(schema.INTERESTS, rng.randint(0, 3)),
            "Preferred_Contact_Time": rng.choice(schema.CONTACT_TIMES),
            "Trial_Class_Booked": rng.random() < 0.35,
            "City": city,
            "State": state,
            "$currency_symbol": "$",
            "$approval_state": "approved",
            "$converted": False,
            "Converted__s": False,
        }
        if rng.random() < 0.9:
            values["Email"] = s.email(first, last, number)
        if rng.random() < 0.8:
            values["Mobile"] = s.phone()
        if rng.random() < 0.4:
            values["Phone"] = s.phone()
        if rng.random() < 0.3:
            values["Salutation"] = rng.choice(schema.SALUTATIONS)
        if rng.random() < 0.35:
            values["Company"] = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
            values["No_of_Employees"] = rng.randint(1, 500)
            values["Annual_Revenue"] = float(rng.randint(10, 9000) * 1000)
        if rng.random() < 0.4:
            values["Trial_Date"] = (created + timedelta(days=rng.randint(1, 14))).date().isoformat()
        if rng.random() < 0.3:
            values["Membership_Type"] = rng.choice(schema.MEMBERSHIP_TYPES)
            values["Membership_Value"] = float(rng.choice((49, 79, 99, 129, 159, 199)))
        if rng.random() < 0.1:
            values["Description"] = "Asked about the class schedule and parking."
        if rng.random() < 0.15:
            values["Tag"] = [{"name": "Trial", "id": f"{org.prefix}000000091001", "color_code": "#57B1FD"}]
        values["Lead_Score"] = schema.lead_score(values)
        values["Days_Since_Created"] = round((s.now - created).total_seconds() / DAY, 2)
        record = s.insert("Leads", values, created)
        if rng.random() < converted_share:
            conversions.append((record, modified))
    for record, when in conversions:
        convert_lead(org, record, when=when, rng=rng)


def convert_lead(org: ZohoOrg, lead: dict[str, Any], *, when: datetime, rng: random.Random | None = None) -> str:
    """Convert a lead as Zoho does: a Contact is made from it and the lead stays, marked converted."""
    owner = lead.get("Owner") or minified(org.admin)
    maker = {"name": owner["name"], "id": owner["id"]}
    stamp = format_zoho_datetime(when, org.tz)
    contact_values = {
        "Owner": owner,
        "Created_By": maker,
        "Modified_By": maker,
        "Created_Time": stamp,
        "Modified_Time": stamp,
        "$currency_symbol": "$",
        "$approval_state": "approved",
    }
    for field_name in ("First_Name", "Last_Name", "Full_Name", "Email", "Phone", "Mobile", "Studio", "Interests"):
        if lead.get(field_name) is not None:
            contact_values[field_name] = lead[field_name]
    contact_values["Lead_Source"] = lead.get("Lead_Source")
    contact = org.modules["Contacts"].insert(contact_values, at=when, notify=False)
    detail = {
        "contact": contact["id"],
        "deal": None,
        "account": None,
        "convert_date": when.date().isoformat(),
        "converted_by": maker,
    }
    org.modules["Leads"].update(
        lead["id"],
        {"$converted": True, "Converted__s": True, "Converted_Date_Time": stamp, "$converted_detail": detail},
        at=when,
        notify=False,
    )
    return contact["id"]


def seed_deals(org: ZohoOrg, count: int, seed: int) -> None:
    s = Seeder(org, seed, "Deals")
    rng = s.rng
    for created, modified in s.times(count):
        contact = s.pick("Contacts")
        stage, probability, _ = rng.choice(schema.DEAL_STAGES)
        amount = float(rng.choice((49, 79, 99, 129, 159, 199)) * rng.choice((1, 3, 6, 12)))
        membership = rng.choice(schema.MEMBERSHIP_TYPES)
        who = contact["Full_Name"] if contact else f"{s.person()[0]} {s.person()[1]}"
        values = {
            **s.system(created, modified),
            "Deal_Name": f"{who} - {membership} membership",
            "Amount": amount,
            "Stage": stage,
            "Probability": probability,
            "Expected_Revenue": round(amount * probability / 100, 2),
            "Closing_Date": (created + timedelta(days=rng.randint(7, 60))).date().isoformat(),
            "Pipeline": "Standard (Standard)",
            "Type": rng.choice(("New Business", "Existing Business")),
            "Lead_Source": rng.choice(schema.LEAD_SOURCES),
            "Studio": rng.choice(schema.STUDIOS),
            "Membership_Type": membership,
            "$currency_symbol": "$",
            "$approval_state": "approved",
        }
        if contact is not None:
            values["Contact_Name"] = lookup(contact)
            if contact.get("Account_Name"):
                values["Account_Name"] = contact["Account_Name"]
        s.insert("Deals", values, created)


def seed_tasks(org: ZohoOrg, count: int, seed: int) -> None:
    s = Seeder(org, seed, "Tasks")
    rng = s.rng
    for created, modified in s.times(count, days=30):
        parent_module = rng.choice(("Leads", "Leads", "Deals"))
        parent = s.pick(parent_module)
        status = rng.choice(schema.TASK_STATUSES)
        values: dict[str, Any] = {
            **s.system(created, modified),
            "Subject": rng.choice(TASK_SUBJECTS),
            "Due_Date": (created + timedelta(days=rng.randint(0, 7))).date().isoformat(),
            "Status": status,
            "Priority": rng.choice(schema.TASK_PRIORITIES),
            "Description": "Created from the studio inbox.",
            "Send_Notification_Email": False,
        }
        if parent is not None:
            values["What_Id"] = lookup(parent)
            values["$se_module"] = parent_module
        contact = s.pick("Contacts") if rng.random() < 0.3 else None
        if contact is not None:
            values["Who_Id"] = lookup(contact)
        if status == "Completed":
            values["Closed_Time"] = values["Modified_Time"]
        s.insert("Tasks", values, created)


def seed_notes(org: ZohoOrg, count: int, seed: int) -> None:
    s = Seeder(org, seed, "Notes")
    rng = s.rng
    for created, modified in s.times(count, days=30):
        parent_module = rng.choice(("Leads", "Contacts", "Deals"))
        parent = s.pick(parent_module)
        if parent is None:
            continue
        values = {
            **s.system(created, modified),
            "Note_Title": rng.choice(NOTE_TITLES),
            "Note_Content": "Prefers evening classes; asked about the family plan.",
            "Parent_Id": {
                **lookup(parent),
                "module": {"api_name": parent_module, "id": schema.module_id(org.prefix, parent_module)},
            },
            "$se_module": parent_module,
        }
        s.insert("Notes", values, created)


SEEDERS = {
    "Accounts": seed_accounts,
    "Contacts": seed_contacts,
    "Leads": seed_leads,
    "Deals": seed_deals,
    "Tasks": seed_tasks,
    "Notes": seed_notes,
}


def seed_module(org: ZohoOrg, module: str, count: int, seed: int) -> None:
    SEEDERS[module](org, count, seed)


def seed_org(org: ZohoOrg, *, seed: int, leads: int) -> None:
    """`leads` leads and, in proportion, accounts (1/20), contacts (1/4), deals (1/10), tasks and notes (1/20)."""
    seed_accounts(org, max(leads // 20, 1), seed)
    seed_contacts(org, leads // 4, seed)
    seed_leads(org, leads, seed)
    seed_deals(org, leads // 10, seed)
    seed_tasks(org, max(leads // 20, 1), seed)
    seed_notes(org, max(leads // 20, 1), seed)
