"""Realistic Salesforce data, fast enough for 100,000 wide Leads: rows are built as dicts and put into the
stores directly, then each store's indexes are sorted once (`rebuild_indexes`); nothing reaches listeners (no
Flow callout for data that was already there).

`seed(org, sobject, count, *, seed=7, now=None) -> list[ids]` for Lead, Contact, Account, Opportunity, Task.
Leads are wide (most of the 116 fields: names from many backgrounds, phones in the formats people type into a
CRM, emails, companies, addresses, lead sources, picklists, custom fields, long text on some), owned by the
org's users in turn, created over the past 120 days with about half modified since; about one in ten is
converted (IsConverted, Status "Closed - Converted", ConvertedDate, and the Account, Contact and, for half of
them, Opportunity it became, which are made too). Repeatable for a seed (kit/seeding.py streams per object and
per how many rows the object already has, so a second batch is new people, not the first batch again).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.kit.seeding import Faker
from sandbox.salesforce import ids
from sandbox.salesforce.schema_objects import CLASSES, INDUSTRIES, LEAD_SOURCES, STUDIO_NAMES, TIERS
from sandbox.salesforce.state import format_sf_datetime

if TYPE_CHECKING:
    from sandbox.salesforce.state import SfOrg

DAY = 86_400.0
TITLES = ("Manager", "Engineer", "Teacher", "Nurse", "Designer", "Consultant", "Owner", "Student", None, None)
OPEN_STATUSES = ("Open - Not Contacted", "Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")
GOALS = (
    "Lose weight before the wedding in June; prefers morning classes.",
    "Rehab after a knee injury, cleared by the physio for low impact work.",
    "Train for a half marathon; wants strength work twice a week.",
    "Get back in shape after the baby; evenings only.",
    "Build strength, improve posture after years at a desk.",
)
SURVEY = (
    "Heard about us from a friend. Tried two other studios nearby, found them too crowded. Interested in small "
    "group classes, would like to know about parking and whether towels are included. "
)
TASK_SUBJECTS = ("Call back", "Send intro offer", "Follow up on trial", "Welcome call", "SMS to lead")


def _addresses(faker: Faker) -> dict[str, Any]:
    city, state = faker.city()
    rng = faker.rng
    return {
        "Street": f"{rng.randint(1, 9999)} {rng.choice(('Main', 'Oak', 'Market', 'Mission', 'Elm', 'Pine'))} St",
        "City": city,
        "State": state,
        "PostalCode": f"{rng.randint(10000, 99999)}",
        "Country": "USA",
    }


def _system(record: dict[str, Any], record_id: str, created: datetime, modified: datetime, owner: str) -> None:
    created_text = format_sf_datetime(created)
    modified_text = format_sf_datetime(modified)
    record.update(
        Id=record_id,
        id=record_id,
        IsDeleted=False,
        OwnerId=owner,
        CreatedById=owner,
        LastModifiedById=owner,
        CreatedDate=created_text,
        LastModifiedDate=modified_text,
        SystemModstamp=modified_text,
    )


def _ids(org: SfOrg, sobject: str, count: int) -> list[str]:
    first = org.ids.reserve(count)
    prefix = ids.KEY_PREFIXES[sobject]
    return [ids.make_id(prefix, org.ids.org_tag, first + offset) for offset in range(count)]


def _owners(org: SfOrg) -> list[str]:
    return [user_id for user_id, user in org.users.items() if user.get("IsActive")] or [org.admin_user_id]


def seed_accounts(org: SfOrg, count: int, *, seed: int = 7, now: datetime | None = None) -> list[str]:
    start = len(org.stores["Account"])
    faker = Faker.for_seed(seed, f"{org.org_id}:Account:{start}")
    now = now or org.now()
    owners = _owners(org)
    store = org.stores["Account"]
    made = _ids(org, "Account", count)
    for number, (record_id, (created, modified)) in enumerate(
        zip(made, faker.times(count, now=now), strict=True), start=start
    ):
        address = _addresses(faker)
        record = {
            "Name": f"{faker.company()} {number}",
            "Type": faker.rng.choice(("Prospect", "Customer - Direct", "Other")),
            "Phone": faker.phone(),
            "Industry": faker.rng.choice(INDUSTRIES),
            "NumberOfEmployees": faker.rng.randint(1, 500),
            **{f"Billing{key}": value for key, value in address.items()},
        }
        _system(record, record_id, created, modified, owners[number % len(owners)])
        store.records[record_id] = record
    store.rebuild_indexes()
    return made


def seed_contacts(
    org: SfOrg, count: int, *, seed: int = 7, now: datetime | None = None, accounts: list[str] | None = None
) -> list[str]:
    start = len(org.stores["Contact"])
    faker = Faker.for_seed(seed, f"{org.org_id}:Contact:{start}")
    rng = faker.rng
    now = now or org.now()
    owners = _owners(org)
    accounts = accounts or [
        record_id for record_id, record in org.stores["Account"].records.items() if not record.get("IsDeleted")
    ]
    store = org.stores["Contact"]
    made = _ids(org, "Contact", count)
    for number, (record_id, (created, modified)) in enumerate(
        zip(made, faker.times(count, now=now), strict=True), start=start
    ):
        first, last = faker.person()
        record = {
            "FirstName": first,
            "LastName": last,
            "Name": f"{first} {last}",
            "Email": faker.email(first, last, number),
            "MobilePhone": faker.phone(),
            "Phone": faker.phone() if rng.random() < 0.5 else None,
            "HomePhone": faker.phone() if rng.random() < 0.2 else None,
            "OtherPhone": faker.phone() if rng.random() < 0.05 else None,
            "AssistantPhone": faker.phone() if rng.random() < 0.03 else None,
            "AccountId": rng.choice(accounts) if accounts and rng.random() < 0.8 else None,
            "LeadSource": rng.choice(LEAD_SOURCES),
            "Title": rng.choice(TITLES),
            "SMS_Opt_Out__c": rng.random() < 0.03,
            "Studio__c": rng.choice(STUDIO_NAMES[:2]),
            **{f"Mailing{key}": value for key, value in _addresses(faker).items()},
        }
        _system(record, record_id, created, modified, owners[number % len(owners)])
        store.records[record_id] = record
    store.rebuild_indexes()
    return made


def _lead(faker: Faker, number: int) -> dict[str, Any]:
    rng = faker.rng
    random = rng.random
    first, last = faker.person()
    city, state = faker.city()
    record: dict[str, Any] = {
        "FirstName": first,
        "LastName": last,
        "Name": f"{first} {last}",
        "Salutation": rng.choice(("Mr.", "Ms.", "Mx.", None, None)),
        "Company": faker.company() if random() < 0.6 else f"{last} (individual)",
        "Title": rng.choice(TITLES),
        "Email": faker.email(first, last, number),
        "Phone": faker.phone() if random() < 0.6 else None,
        "MobilePhone": faker.phone() if random() < 0.8 else None,
        "Fax": faker.phone() if random() < 0.02 else None,
        "Street": f"{rng.randint(1, 9999)} {rng.choice(('Main', 'Oak', 'Market', 'Mission', 'Elm'))} St",
        "City": city,
        "State": state,
        "PostalCode": f"{rng.randint(10000, 99999)}",
        "Country": "USA",
        "LeadSource": rng.choice(LEAD_SOURCES),
        "Status": rng.choice(OPEN_STATUSES),
        "Industry": rng.choice(INDUSTRIES) if random() < 0.4 else None,
        "Rating": rng.choice(("Hot", "Warm", "Cold", None)),
        "AnnualRevenue": float(rng.randint(1, 500) * 1000) if random() < 0.2 else None,
        "NumberOfEmployees": rng.randint(1, 300) if random() < 0.2 else None,
        "HasOptedOutOfEmail": random() < 0.05,
        "IsConverted": False,
        "IsUnreadByOwner": random() < 0.3,
        "DoNotCall": random() < 0.02,
        "HasOptedOutOfFax": False,
        "SMS_Opt_Out__c": random() < 0.03,
        "Studio__c": rng.choice(STUDIO_NAMES[:2]),
        "Leadline_Id__c": None,
        "External_Ref__c": f"WEB-{number:07d}" if random() < 0.3 else None,
        "Home_Studio__c": rng.choice(STUDIO_NAMES[:2]),
        "Secondary_Studio__c": rng.choice(STUDIO_NAMES) if random() < 0.2 else None,
        "Preferred_Class__c": rng.choice(CLASSES),
        "Interests__c": ";".join(rng.sample(CLASSES, rng.randint(1, 3))),
        "Membership_Tier__c": rng.choice(TIERS) if random() < 0.5 else None,
        "Intro_Offer__c": rng.choice(("None", "Free Class", "Two Weeks", "Month")),
        "Preferred_Contact_Time__c": rng.choice(("Morning", "Afternoon", "Evening", "Weekend")),
        "Gender__c": rng.choice(("Female", "Male", "Non-binary", "Prefer not to say", None)),
        "Language__c": rng.choice(("English", "English", "Spanish", "Chinese", "French")),
        "Fitness_Goal__c": rng.choice(GOALS) if random() < 0.5 else None,
        "Injuries__c": "Lower back pain; avoid heavy deadlifts." if random() < 0.1 else None,
        "Survey_Response__c": SURVEY * rng.randint(1, 3) if random() < 0.1 else None,
        "Coach_Notes__c": "<p>Great energy in the trial class.</p>" if random() < 0.1 else None,
        "Short_Note__c": "Asked about family plans." if random() < 0.2 else None,
        "Age__c": rng.randint(18, 70) if random() < 0.6 else None,
        "Height_cm__c": round(150 + random() * 45, 1) if random() < 0.3 else None,
        "Weight_kg__c": round(50 + random() * 50, 1) if random() < 0.3 else None,
        "Lead_Score__c": rng.randint(0, 100),
        "Visits__c": rng.randint(0, 12),
        "Classes_Attended__c": rng.randint(0, 30),
        "Budget__c": float(rng.choice((49, 79, 99, 149, 199))),
        "Discount_Percent__c": float(rng.choice((0, 10, 15, 20))),
        "Emergency_Contact__c": f"{rng.choice(('Alex', 'Sam', 'Jo'))} {last}" if random() < 0.3 else None,
        "Emergency_Phone__c": faker.phone() if random() < 0.3 else None,
        "Work_Phone__c": faker.phone() if random() < 0.15 else None,
        "Instagram_Handle__c": f"@{first.lower()}{number % 1000}" if random() < 0.25 else None,
        "Referral_Code__c": f"REF{number:06d}" if random() < 0.2 else None,
        "Referred_By__c": None,
        "Favorite_Coach__c": rng.choice(("Jordan", "Taylor", "Morgan", None)),
        "Promo_Code__c": rng.choice(("NEWYEAR", "SUMMER", None, None)),
        "Time_Zone__c": "America/Los_Angeles" if state == "CA" else "America/New_York",
        "Sms_Consent_Source__c": rng.choice(("Web form", "Front desk", None)),
        "Nurture_Stage__c": rng.choice(("New", "Engaged", "Trial", "Dormant")),
        "Tags__c": rng.choice(("vip", "student", "corporate", None, None)),
        "UTM_Source__c": rng.choice(("google", "instagram", "facebook", None)),
        "UTM_Medium__c": rng.choice(("cpc", "social", None)),
        "UTM_Campaign__c": rng.choice(("spring-intro", "new-year", None)),
        "Landing_Page__c": "https://summit.example.com/trial" if random() < 0.4 else None,
        "Marketing_Consent__c": random() < 0.7,
        "WhatsApp_Opt_In__c": random() < 0.2,
        "Trial_Booked__c": random() < 0.3,
        "Is_Student__c": random() < 0.1,
        "Corporate_Plan__c": random() < 0.05,
    }
    return record


def seed_leads(org: SfOrg, count: int, *, seed: int = 7, now: datetime | None = None) -> list[str]:
    start = len(org.stores["Lead"])
    faker = Faker.for_seed(seed, f"{org.org_id}:Lead:{start}")
    rng = faker.rng
    now = now or org.now()
    owners = _owners(org)
    store = org.stores["Lead"]
    made = _ids(org, "Lead", count)
    converted: list[tuple[dict[str, Any], datetime]] = []
    for number, (record_id, (created, modified)) in enumerate(
        zip(made, faker.times(count, now=now), strict=True), start=start
    ):
        record = _lead(faker, number)
        days = (now - created).total_seconds() / DAY
        record["Days_Open__c"] = float(int(days))
        record["Trial_Start__c"] = (created + timedelta(days=rng.randint(0, 7))).date().isoformat()
        record["Trial_End__c"] = (created + timedelta(days=rng.randint(8, 21))).date().isoformat()
        record["Last_Visit__c"] = format_sf_datetime(modified) if rng.random() < 0.4 else None
        record["Consent_Date__c"] = format_sf_datetime(created) if record["Marketing_Consent__c"] else None
        _system(record, record_id, created, modified, owners[number % len(owners)])
        # Empty fields are left out (a record shows them as null): a third less memory at 100,000 wide rows.
        record = {name: value for name, value in record.items() if value is not None}
        store.records[record_id] = record
        if rng.random() < 0.1:
            converted.append((record, modified))
    _convert(org, converted, seed=seed)
    store.rebuild_indexes()
    return made


def _convert(org: SfOrg, leads: list[tuple[dict[str, Any], datetime]], *, seed: int) -> None:
    """Converted leads and what they became (an Account, a Contact, half an Opportunity), as Lead Convert does."""
    if not leads:
        return
    faker = Faker.for_seed(seed, f"{org.org_id}:Convert:{len(org.stores['Account'])}")
    account_ids = _ids(org, "Account", len(leads))
    contact_ids = _ids(org, "Contact", len(leads))
    opportunity_ids = _ids(org, "Opportunity", len(leads))
    accounts, contacts, opportunities = org.stores["Account"], org.stores["Contact"], org.stores["Opportunity"]
    for (lead, moment), account_id, contact_id, opportunity_id in zip(
        leads, account_ids, contact_ids, opportunity_ids, strict=True
    ):
        owner = lead["OwnerId"]
        account = {
            "Name": lead["Company"],
            "Phone": lead.get("Phone"),
            "BillingCity": lead.get("City"),
            "BillingState": lead.get("State"),
            "Type": "Customer - Direct",
        }
        _system(account, account_id, moment, moment, owner)
        accounts.records[account_id] = account
        contact = {
            "FirstName": lead["FirstName"],
            "LastName": lead["LastName"],
            "Name": lead["Name"],
            "Email": lead["Email"],
            "Phone": lead.get("Phone"),
            "MobilePhone": lead.get("MobilePhone"),
            "AccountId": account_id,
            "LeadSource": lead.get("LeadSource"),
            "SMS_Opt_Out__c": lead.get("SMS_Opt_Out__c", False),
            "Studio__c": lead.get("Studio__c"),
        }
        _system(contact, contact_id, moment, moment, owner)
        contacts.records[contact_id] = contact
        lead.update(
            IsConverted=True,
            Status="Closed - Converted",
            ConvertedDate=moment.date().isoformat(),
            ConvertedAccountId=account_id,
            ConvertedContactId=contact_id,
        )
        if faker.rng.random() < 0.5:
            amount = float(faker.rng.choice((588, 948, 1188, 1788)))
            opportunity = {
                "Name": f"{lead['Name']} membership",
                "AccountId": account_id,
                "ContactId": contact_id,
                "StageName": "Closed Won",
                "Amount": amount,
                "Probability": 100,
                "CloseDate": moment.date().isoformat(),
                "IsClosed": True,
                "IsWon": True,
                "Expected_Revenue_Formula__c": amount,
                "LeadSource": lead.get("LeadSource"),
            }
            _system(opportunity, opportunity_id, moment, moment, owner)
            opportunities.records[opportunity_id] = opportunity
            lead["ConvertedOpportunityId"] = opportunity_id
    for store in (accounts, contacts, opportunities):
        store.rebuild_indexes()


def seed_opportunities(org: SfOrg, count: int, *, seed: int = 7, now: datetime | None = None) -> list[str]:
    start = len(org.stores["Opportunity"])
    faker = Faker.for_seed(seed, f"{org.org_id}:Opportunity:{start}")
    rng = faker.rng
    now = now or org.now()
    owners = _owners(org)
    accounts = [record_id for record_id, record in org.stores["Account"].records.items() if not record["IsDeleted"]]
    if not accounts:
        accounts = seed_accounts(org, max(1, count // 4), seed=seed, now=now)
    store = org.stores["Opportunity"]
    made = _ids(org, "Opportunity", count)
    stages = ("Prospecting", "Qualification", "Needs Analysis", "Closed Won", "Closed Lost")
    for number, (record_id, (created, modified)) in enumerate(
        zip(made, faker.times(count, now=now), strict=True), start=start
    ):
        stage = rng.choice(stages)
        amount = float(rng.choice((588, 948, 1188, 1788)))
        probability = {"Prospecting": 10, "Qualification": 10, "Needs Analysis": 20, "Closed Won": 100}.get(stage, 0)
        record = {
            "Name": f"Membership {number}",
            "AccountId": rng.choice(accounts),
            "StageName": stage,
            "Amount": amount,
            "Probability": probability,
            "CloseDate": (created + timedelta(days=30)).date().isoformat(),
            "IsClosed": stage.startswith("Closed"),
            "IsWon": stage == "Closed Won",
            "Expected_Revenue_Formula__c": round(amount * probability / 100, 2),
        }
        _system(record, record_id, created, modified, owners[number % len(owners)])
        store.records[record_id] = record
    store.rebuild_indexes()
    return made


def seed_tasks(org: SfOrg, count: int, *, seed: int = 7, now: datetime | None = None) -> list[str]:
    start = len(org.stores["Task"])
    faker = Faker.for_seed(seed, f"{org.org_id}:Task:{start}")
    rng = faker.rng
    now = now or org.now()
    owners = _owners(org)
    whos = [
        record_id
        for sobject in ("Lead", "Contact")
        for record_id, record in org.stores[sobject].records.items()
        if not record["IsDeleted"]
    ]
    store = org.stores["Task"]
    made = _ids(org, "Task", count)
    for number, (record_id, (created, modified)) in enumerate(
        zip(made, faker.times(count, now=now), strict=True), start=start
    ):
        status = rng.choice(("Not Started", "Completed", "Completed", "In Progress"))
        record = {
            "Subject": rng.choice(TASK_SUBJECTS),
            "WhoId": rng.choice(whos) if whos else None,
            "ActivityDate": (created + timedelta(days=1)).date().isoformat(),
            "Status": status,
            "Priority": rng.choice(("Normal", "Normal", "High", "Low")),
            "Type": rng.choice(("Call", "Email", "SMS", None)),
            "TaskSubtype": "Task",
            "IsClosed": status == "Completed",
            "CompletedDateTime": format_sf_datetime(modified) if status == "Completed" else None,
        }
        record["IsHighPriority"] = record["Priority"] == "High"
        record["WhoCount"] = 1 if record["WhoId"] else 0
        record["WhatCount"] = 0
        _system(record, record_id, created, modified, owners[number % len(owners)])
        store.records[record_id] = record
    store.rebuild_indexes()
    return made


SEEDERS = {
    "Lead": seed_leads,
    "Contact": seed_contacts,
    "Account": seed_accounts,
    "Opportunity": seed_opportunities,
    "Task": seed_tasks,
}


def seed(org: SfOrg, sobject: str, count: int, *, seed: int = 7, now: datetime | None = None) -> list[str]:
    """`count` new rows of `sobject` (see the module docstring); their ids, in creation order."""
    if sobject not in SEEDERS:
        raise ValueError(f"cannot seed {sobject!r}; use one of {sorted(SEEDERS)}")
    with org.sandbox.lock:
        return SEEDERS[sobject](org, count, seed=seed, now=now)
