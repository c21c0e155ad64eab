"""Wide leads for the mirror benchmark: every Leads field filled, plus custom fields of the kinds seed.py lacks.

`widen_leads(org)` adds five custom fields to the org's Leads metadata (a lookup to Accounts, an integer, a
decimal, an email and a phone, cloned from fields of the same type), so a lead has 70 fields of every kind the
mirror maps: text, email, phone, picklist, multiselect, date, datetime, currency, integer, bigint, decimal,
boolean, lookup, owner, formula, website, textarea. `wide_lead(...)` builds lead number i as the store holds it;
`seed_wide_leads` inserts N of them with Modified_Time ascending (so the sorted indexes only append), and
`edit_wide_leads` edits every lead at once, as a person would in Zoho (Modified_Time moves), re-sorting the
indexes once at the end. Deterministic for a seed; nothing is announced to listeners.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.kit.seeding import (
    AREA_CODES,
    CITIES,
    COMPANY_KINDS,
    COMPANY_WORDS,
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    PHONE_FORMATS,
)
from sandbox.zoho_crm import schema
from sandbox.zoho_crm.orgs import minified
from sandbox.zoho_crm.seed import seed_accounts
from sandbox.zoho_crm.store import format_zoho_datetime

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg

# (api name, label, the field cloned for its type, module the clone is read from)
EXTRA_FIELDS = (
    ("Referring_Account", "Referring Account", "Account_Name", "Contacts"),
    ("Classes_Attended", "Classes Attended", "No_of_Employees", "Leads"),
    ("Body_Fat_Percent", "Body Fat Percent", "Average_Time_Spent_Minutes", "Leads"),
    ("Work_Email", "Work Email", "Secondary_Email", "Leads"),
    ("Emergency_Phone", "Emergency Phone", "Mobile", "Leads"),
)
TITLES = ("Manager", "Engineer", "Teacher", "Nurse", "Designer", "Consultant", "Owner", "Student")
STATUSES = schema.LEAD_STATUSES


def widen_leads(org: ZohoOrg, *, accounts: int = 500, seed: int = 7) -> None:
    """Add the extra custom fields to Leads and `accounts` Accounts for the lookup to point at."""
    known = {meta["api_name"] for meta in org.fields["Leads"]}
    for number, (api_name, label, source, module) in enumerate(EXTRA_FIELDS, start=1):
        if api_name in known:
            continue
        meta = copy.deepcopy(next(meta for meta in org.fields[module] if meta["api_name"] == source))
        field_id = f"{org.prefix}{schema.MODULE_IDS['Leads'] * 1000 + 900 + number:012d}"
        meta.update(
            api_name=api_name,
            field_label=label,
            display_label=label,
            custom_field=True,
            read_only=False,
            field_read_only=False,
            id=field_id,
            column_name=f"LEADCF9{number}",
        )
        if meta.get("lookup"):
            meta["lookup"] = {**meta["lookup"], "api_name": api_name, "display_label": label, "id": field_id}
        org.fields["Leads"].append(meta)
    if len(org.modules["Accounts"]) < accounts:
        seed_accounts(org, accounts - len(org.modules["Accounts"]), seed)


class WideLeads:
    """Builds wide leads; holds the shared values (owners, accounts) and the random source."""

    def __init__(self, org: ZohoOrg, seed: int = 7) -> None:
        self.org = org
        self.tz = org.tz
        self.rng = random.Random(f"{seed}:wide-leads")
        users = list(org.users.values())
        self.owners = [minified(user) for user in users]
        self.makers = [minified(user, email=False) for user in users]
        accounts = org.modules["Accounts"].records.values()
        self.accounts = [{"name": record["Account_Name"], "id": record["id"]} for record in accounts]

    def stamp(self, moment: datetime) -> str:
        return format_zoho_datetime(moment, self.tz)

    def phone(self, number: int, salt: int) -> str:
        line = (number * 7919 + salt * 104_729) % 10_000
        exchange = 200 + (number * 31 + salt) % 800
        area = AREA_CODES[(number + salt) % len(AREA_CODES)]
        return PHONE_FORMATS[(number + salt) % len(PHONE_FORMATS)].format(a=area, e=exchange, l=f"{line:04d}")

    def lead(self, number: int, created: datetime) -> dict[str, Any]:
        """Lead number `number`, created (and last modified) at `created`: every field filled."""
        rng = self.rng
        first, last = FIRST_NAMES[number % len(FIRST_NAMES)], LAST_NAMES[(number // 7) % len(LAST_NAMES)]
        city, state = CITIES[number % len(CITIES)]
        owner = number % len(self.owners)
        company = f"{COMPANY_WORDS[number % len(COMPANY_WORDS)]} {COMPANY_KINDS[number % len(COMPANY_KINDS)]}"
        handle = f"{first}.{last}{number}".lower().replace("'", "")
        stamp = self.stamp(created)
        visited = self.stamp(created - timedelta(days=rng.randint(1, 30)))
        interests = rng.sample(schema.INTERESTS, rng.randint(1, 3))
        values: dict[str, Any] = {
            "Owner": self.owners[owner],
            "Created_By": self.makers[owner],
            "Modified_By": self.makers[owner],
            "Created_Time": stamp,
            "Modified_Time": stamp,
            "Salutation": schema.SALUTATIONS[number % len(schema.SALUTATIONS)],
            "First_Name": first,
            "Last_Name": last,
            "Full_Name": f"{first} {last}",
            "Designation": TITLES[number % len(TITLES)],
            "Company": company,
            "Email": f"{handle}@{DOMAINS[number % len(DOMAINS)]}",
            "Secondary_Email": f"{handle}@work.example.com",
            "Phone": self.phone(number, 1),
            "Mobile": self.phone(number, 2),
            "Fax": f"+1 415 555 {number % 10_000:04d}",
            "Website": f"https://www.{handle.replace('.', '-')}.example.com",
            "Lead_Source": rng.choice(schema.LEAD_SOURCES),
            "Lead_Status": STATUSES[number % len(STATUSES)],
            "Industry": rng.choice(schema.INDUSTRIES),
            "No_of_Employees": rng.randint(1, 500),
            "Annual_Revenue": float(rng.randint(10, 9000) * 1000),
            "Rating": rng.choice(schema.RATINGS),
            "Email_Opt_Out": rng.random() < 0.1,
            "Skype_ID": f"live:{handle}",
            "Twitter": f"@{first.lower()}{number}",
            "Street": f"{rng.randint(1, 9999)} Market Street",
            "City": city,
            "State": state,
            "Zip_Code": f"{94000 + number % 999:05d}",
            "Country": "United States",
            "Description": "Asked about the class schedule and parking; prefers evening classes.",
            "Record_Image": None,
            "Last_Activity_Time": stamp,
            "Converted__s": False,
            "Converted_Date_Time": None,
            "Lead_Conversion_Time": None,
            "Unsubscribed_Mode": None,
            "Unsubscribed_Time": None,
            "Locked__s": False,
            "Enrich_Status__s": "Available",
            "Last_Enriched_Time__s": visited,
            "Visitor_Score": str(rng.randint(0, 10**12)),
            "Days_Visited": rng.randint(0, 60),
            "Average_Time_Spent_Minutes": round(rng.random() * 30, 2),
            "First_Visited_Time": visited,
            "First_Visited_URL": "https://demofitness.example.com/classes",
            "Last_Visited_Time": stamp,
            "Number_Of_Chats": rng.randint(0, 5),
            "Referrer": "https://www.google.com/",
            "Tag": [{"name": "Trial", "id": f"{self.org.prefix}000000091001", "color_code": "#57B1FD"}],
            "Studio": schema.STUDIOS[number % len(schema.STUDIOS)],
            "Interests": interests,
            "Preferred_Contact_Time": rng.choice(schema.CONTACT_TIMES),
            "SMS_Opt_Out": rng.random() < 0.05,
            "Trial_Date": (created + timedelta(days=rng.randint(1, 14))).date().isoformat(),
            "Trial_Class_Booked": rng.random() < 0.35,
            "Membership_Type": rng.choice(schema.MEMBERSHIP_TYPES),
            "Membership_Value": float(rng.choice((49, 79, 99, 129, 159, 199))),
            "Date_of_Birth": f"{1960 + number % 45}-{1 + number % 12:02d}-{1 + number % 28:02d}",
            "Goals": "Build strength and keep a routine of three classes a week.",
            "Referred_By": f"{FIRST_NAMES[(number + 3) % len(FIRST_NAMES)]} {LAST_NAMES[number % len(LAST_NAMES)]}",
            "Last_SMS_Time": stamp,
            "Lead_Score": float(10 + 20 + 5 * len(interests)),
            "Days_Since_Created": round(rng.random() * 120, 2),
            "Referring_Account": self.accounts[number % len(self.accounts)] if self.accounts else None,
            "Classes_Attended": rng.randint(0, 40),
            "Body_Fat_Percent": round(15 + rng.random() * 20, 1),
            "Work_Email": f"{handle}@{company.split()[0].lower()}.example.com",
            "Emergency_Phone": self.phone(number, 3) if number % 3 == 0 else None,
            "$currency_symbol": "$",
            "$approval_state": "approved",
            "$converted": False,
        }
        return values

    def leads(self, count: int, *, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """`count` leads with Created_Time spread from `start` to `end`, ascending (ids are not set)."""
        step = (end - start) / max(count, 1)
        for number in range(count):
            yield self.lead(number, start + step * number)

    def edit(self, record: dict[str, Any], moment: datetime) -> None:
        """What a person changes on a lead (status, score, notes, a date, a custom number), at `moment`."""
        status = STATUSES[(STATUSES.index(record["Lead_Status"]) + 1) % len(STATUSES)]
        stamp = self.stamp(moment)
        record.update(
            {
                "Lead_Status": status,
                "Lead_Score": float(record.get("Lead_Score") or 0) + 5,
                "Description": f"Called back {stamp[:10]}: {status.lower()}.",
                "Last_SMS_Time": stamp,
                "Last_Activity_Time": stamp,
                "Classes_Attended": int(record.get("Classes_Attended") or 0) + 1,
                "Modified_By": self.makers[0],
                "Modified_Time": stamp,
            }
        )


def seed_wide_leads(org: ZohoOrg, count: int, *, start: datetime, end: datetime, seed: int = 7) -> None:
    """Insert `count` wide leads (the org widened first) created between `start` and `end`."""
    widen_leads(org, seed=seed)
    store = org.modules["Leads"]
    for values in WideLeads(org, seed).leads(count, start=start, end=end):
        store.insert(values, notify=False)


def edit_wide_leads(org: ZohoOrg, *, start: datetime, end: datetime, seed: int = 7) -> int:
    """Edit every lead once, Modified_Time spread from `start` to `end` in the leads' current order."""
    store = org.modules["Leads"]
    wide = WideLeads(org, seed + 1)
    with store.lock:
        records = list(store.iter_by_modified())
        step = (end - start) / max(len(records), 1)
        for number, record in enumerate(records):
            wide.edit(record, start + step * number)
        store.rebuild_indexes()
    return len(records)
