"""Starting data of the Dynamics emulator: the demo Entra app, environments' people (tenant users who are system
users), realistic generated rows (leads, contacts, accounts, opportunities with option sets, lookups, custom
`lh_` columns and phones typed in mixed formats) and world "demo" (Harbor Fitness Group's tenant and the harborfit
environment, constants in sandbox/worlds.py). The tables and columns themselves: seed_tables.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.dynamics.seed_tables import INDUSTRIES, LEAD_SOURCES, SALES_STAGES, new_tables
from sandbox.dynamics.state_auth import Tenant, TenantUser
from sandbox.kit.seeding import Faker

if TYPE_CHECKING:
    from sandbox.dynamics.state import DynamicsState
    from sandbox.dynamics.state_env import Environment

__all__ = ["DEMO_DV_CLIENT_ID", "DEMO_DV_CLIENT_SECRET", "add_people", "new_tables", "seed_rows", "seed_world"]

# Leadline's multi-tenant Entra app (crm/providers/dynamics/conf.py uses the same values when DEBUG).
DEMO_DV_CLIENT_ID = "0d1e2f3a-4b5c-4d6e-8f70-81a2b3c4d5e6"
DEMO_DV_CLIENT_SECRET = "demo-dynamics-client-secret-not-secret"
DEMO_DV_WEBHOOK_HEADER = "x-leadline-webhook-key"
DEMO_DV_LEADS = 200
DEMO_DV_CONTACTS = 40
DEMO_DV_ACCOUNTS = 20
DEMO_DV_OPPORTUNITIES = 15
# Dataverse keeps what people typed: US numbers in several styles plus the odd international one.
FOREIGN_PHONES = ("+44 20 7946 0958", "+61 2 9374 4000", "+353 1 555 0199")
PERSON_NAMES = ("Avery Brooks", "Morgan Lee", "Casey Nguyen", "Jamie Patel", "Riley Chen", "Quinn Garcia")


def _user_row(environment: Environment, person: TenantUser, systemuserid: str, at: datetime) -> dict[str, Any]:
    first, _, last = person.name.partition(" ")
    return {
        "systemuserid": systemuserid,
        "firstname": first,
        "lastname": last or first,
        "internalemailaddress": person.email or person.username,
        "domainname": person.username,
        "azureactivedirectoryobjectid": person.object_id,
        "applicationid": None,
        "isdisabled": False,
        "accessmode": 0,
        "businessunitid": environment.business_unit_id,
        "businessunitid@table": "businessunit",
        "createdon": at,
        "modifiedon": at,
    }


def add_people(
    dynamics: DynamicsState,
    environment: Environment,
    tenant: Tenant,
    count: int,
    *,
    seed: int = 0,
    people: tuple[dict[str, Any], ...] = (),
) -> list[dict[str, Any]]:
    """The root business unit, then `count` people of the tenant (or `people`: dicts with systemuserid,
    azureactivedirectoryobjectid, fullname, internalemailaddress) as system users; the first is a tenant admin."""
    now = dynamics.sandbox.clock.now().replace(microsecond=0)
    environment.put_rows(
        "businessunit",
        [{"businessunitid": environment.business_unit_id, "name": environment.organization_name,
          "createdon": now, "modifiedon": now}],
    )  # fmt: skip
    given = list(people) or [
        {"fullname": PERSON_NAMES[index % len(PERSON_NAMES)] + ("" if index < len(PERSON_NAMES) else f" {index}")}
        for index in range(count)
    ]
    rows = []
    for index, spec in enumerate(given):
        object_id = spec.get("azureactivedirectoryobjectid") or str(uuid.uuid4())
        person = tenant.users.get(object_id) or dynamics.add_person(
            tenant, spec["fullname"], admin=index == 0, object_id=object_id
        )
        if spec.get("internalemailaddress"):
            person.email = spec["internalemailaddress"]
        row = _user_row(environment, person, spec.get("systemuserid") or str(uuid.uuid4()), now)
        rows.append(row)
    environment.put_rows("systemuser", rows)
    return [dict(row) for row in rows]


def _phone(faker: Faker) -> str:
    if faker.rng.random() < 0.04:
        return faker.rng.choice(FOREIGN_PHONES)
    return faker.phone()


def seed_rows(
    environment: Environment,
    table: str,
    count: int,
    *,
    seed: int = 0,
    owner: str | None = None,
    at: datetime | None = None,
    notify: bool = False,
) -> list[str]:
    """`count` generated rows of lead, contact, account or opportunity (owners spread over the environment's
    people unless `owner` is given; created/modified over the past months unless `at`). Returns their ids."""
    faker = Faker.for_seed(seed, f"dynamics:{environment.name}:{table}:{len(environment.tables[table].rows)}")
    now = environment.dynamics.sandbox.clock.now()
    owners = [owner] if owner else [row["systemuserid"] for row in _people(environment)] or [""]
    times = [(at, at) for _ in range(count)] if at else faker.times(count, now=now)
    accounts = [row["accountid"] for row in environment.rows("account")] if table != "account" else []
    contacts = [row["contactid"] for row in environment.rows("contact")]
    start = len(environment.tables[table].rows)
    rows = []
    for index, (created, modified) in enumerate(times):
        values = _values(faker, table, start + index, accounts, contacts)
        values["ownerid"], values["ownerid@table"] = faker.rng.choice(owners), "systemuser"
        values["createdon"], values["modifiedon"] = created.replace(microsecond=0), modified.replace(microsecond=0)
        values["createdby"] = values["modifiedby"] = values["ownerid"]
        values["createdby@table"] = values["modifiedby@table"] = "systemuser"
        spec = environment.tables[table]
        values[spec.primary_id] = str(uuid.UUID(int=faker.rng.getrandbits(128), version=4))
        values.setdefault("statecode", 0)
        values.setdefault("statuscode", 1)
        rows.append({**dict.fromkeys(spec.attributes), **values})
    if notify:
        for row in rows:
            environment.create(table, row, by=row["ownerid"], at=row["createdon"], row_id=row[spec.primary_id])
    else:
        environment.put_rows(table, rows)
    return [row[environment.tables[table].primary_id] for row in rows]


def _people(environment: Environment) -> list[dict[str, Any]]:
    return [row for row in environment.rows("systemuser") if not row.get("applicationid")]


def _values(faker: Faker, table: str, number: int, accounts: list[str], contacts: list[str]) -> dict[str, Any]:
    rng = faker.rng
    if table == "account":
        city, state = faker.city()
        return {
            "name": faker.company(),
            "telephone1": _phone(faker),
            "emailaddress1": f"info{number}@example.com",
            "address1_city": city,
            "address1_stateorprovince": state,
            "industrycode": rng.choice(INDUSTRIES)[0],
        }
    if table == "opportunity":
        values: dict[str, Any] = {
            "name": f"{rng.choice(('Annual', 'Corporate', 'Family', 'Team'))} membership {number + 1}",
            "estimatedvalue": float(rng.randrange(500, 25_000, 50)),
            "estimatedclosedate": f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "salesstage": rng.choice(SALES_STAGES)[0],
        }
        if accounts:
            values["parentaccountid"], values["parentaccountid@table"] = rng.choice(accounts), "account"
        if contacts:
            values["parentcontactid"], values["parentcontactid@table"] = rng.choice(contacts), "contact"
        return values
    first, last = faker.person()
    city, state = faker.city()
    values = {
        "firstname": first,
        "lastname": last,
        "emailaddress1": faker.email(first, last, number),
        "telephone1": _phone(faker) if rng.random() < 0.7 else None,
        "mobilephone": _phone(faker) if rng.random() < 0.8 else None,
        "address1_city": city,
        "address1_stateorprovince": state,
        "address1_postalcode": f"{rng.randint(10000, 99999)}",
        "lh_smsoptout": rng.random() < 0.05,
        "lh_studio": rng.choice(("Downtown", "Marina", "Mission", None)),
    }
    if table == "lead":
        values["subject"] = rng.choice(("Free trial class", "Membership pricing", "Personal training", "Class pass"))
        values["companyname"] = faker.company() if rng.random() < 0.4 else None
        values["leadsourcecode"] = rng.choice(LEAD_SOURCES)[0]
        values["statuscode"] = rng.choice((1, 1, 1, 2))
    elif table == "contact" and accounts and rng.random() < 0.7:
        values["parentcustomerid"], values["parentcustomerid@table"] = rng.choice(accounts), "account"
    return values


def seed_world(dynamics: DynamicsState, name: str, *, seed: int) -> None:
    """World "empty": only the demo app registration. World "demo": Harbor Fitness Group's tenant and environment,
    its rows and its webhook for new leads."""
    from sandbox import worlds

    if dynamics.app(DEMO_DV_CLIENT_ID) is None:
        dynamics.create_app(DEMO_DV_CLIENT_ID, DEMO_DV_CLIENT_SECRET, name="Leadline")
    if name != "demo":
        return
    tenant = dynamics.create_tenant(
        worlds.DEMO_DV_TENANT_ID, name=worlds.DEMO_DV_TENANT_NAME, domain="harborfit.onmicrosoft.com"
    )
    environment = dynamics.create_environment(
        worlds.DEMO_DV_ENVIRONMENT,
        tenant.tenant_id,
        worlds.DEMO_DV_ORGANIZATION_NAME,
        users=0,
        consent=False,
        organization_id=worlds.DEMO_DV_ORGANIZATION_ID,
        seed=seed,
        people=worlds.DEMO_DV_USERS,
    )
    dynamics.consent(tenant.tenant_id, DEMO_DV_CLIENT_ID)
    dynamics.add_application_user(environment, DEMO_DV_CLIENT_ID, systemuserid=worlds.DEMO_DV_APPLICATION_USER_ID)
    seed_rows(environment, "account", DEMO_DV_ACCOUNTS, seed=seed)
    seed_rows(environment, "contact", DEMO_DV_CONTACTS, seed=seed)
    seed_rows(environment, "lead", DEMO_DV_LEADS, seed=seed)
    seed_rows(environment, "opportunity", DEMO_DV_OPPORTUNITIES, seed=seed)
    _demo_webhook(dynamics, environment)


def _demo_webhook(dynamics: DynamicsState, environment: Environment) -> None:
    """The customer's webhook registration: new leads POSTed to the product with the connection's key (set after
    the seed, so only leads made later start lead automation in `make run`)."""
    from sandbox import worlds

    try:
        from sandbox.dynamics.webhooks import webhook_register
    except ImportError:
        return
    webhook_register(
        environment,
        url=f"{dynamics.sandbox.config.product_base_url.rstrip('/')}{worlds.DEMO_DV_EVENTS_PATH}",
        header_name=DEMO_DV_WEBHOOK_HEADER,
        header_value=worlds.DEMO_DV_WEBHOOK_KEY,
        table="lead",
        message="Create",
    )
