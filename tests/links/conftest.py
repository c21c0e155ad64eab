"""Shared fixtures of the two-way sync tests: an organization with two CRM connections (plain ProviderAccounts: no
CRM is called while their specs are primed in the cache), a RUNNING link of leads (and accounts, for lookups) with
its fields, and helpers writing mirror rows the way the mirror does (sync.upsert with a real SyncRun, in a
transaction, so the records-changed receiver runs as in production).

    def test_x(world):
        world.mirror("a", [world.lead_a("1", Last_Name="Ng", Email="ng@x.test")])
        changes = world.changes()

`world.fields["last_name"]` is the LinkField; `world.spec("a")` side A's lead spec. Tests against emulators make
their connections through tests/crm/harness_<kind>.py and pass them to `link_make`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from django.db import transaction
from django.utils import timezone

from core.phone import e164_or_blank
from crm.records import CanonicalRecord, FieldSpec, FieldType, ObjectSpec
from links.metadata import object_spec_prime
from links.models import LinkChange, LinkField, LinkObject, SyncLink
from studios.models import ProviderAccount
from sync.content import MirrorKey
from sync.models import SyncRun
from sync.upsert import crm_records_mark_deleted, crm_records_upsert
from tests.factories import OrganizationFactory

F = FieldType

# Side A looks like Zoho's leads, side B like HubSpot's contacts: different names, a date against a datetime,
# picklist values that differ, a custom boolean.
LEAD_A = ObjectSpec(
    name="lead",
    vendor_name="Leads",
    modified_time_field="Modified_Time",
    fields=(
        FieldSpec("Last_Name", F.TEXT, key="last_name", required=True),
        FieldSpec("Email", F.EMAIL, key="email"),
        FieldSpec("Phone", F.PHONE, key="phone"),
        FieldSpec("Lead_Status", F.PICKLIST, key="lead_status", choices=("New", "Contacted", "Qualified", "Lost")),
        FieldSpec("Birthday", F.DATE, key="birthday"),
        FieldSpec("Score", F.NUMBER, key="score"),
        FieldSpec("Budget", F.DECIMAL, key="budget"),
        FieldSpec("VIP", F.BOOLEAN, custom=True),
        FieldSpec("Owner", F.USER, key="owner"),
        FieldSpec("Account_Name", F.LOOKUP, key="account_name", lookup_target="account"),
        FieldSpec("Leadline_Id", F.TEXT, custom=True, unique=True),
    ),
)
LEAD_B = ObjectSpec(
    name="lead",
    vendor_name="contacts",
    modified_time_field="lastmodifieddate",
    fields=(
        FieldSpec("lastname", F.TEXT, key="last_name"),
        FieldSpec("email", F.EMAIL, key="email"),
        FieldSpec("phone", F.PHONE, key="phone"),
        FieldSpec(
            "hs_lead_status",
            F.PICKLIST,
            key="lead_status",
            choices=("NEW", "CONNECTED", "QUALIFIED", "LOST"),
            choice_labels=("New", "Connected", "Qualified", "Lost"),
        ),
        FieldSpec("birth_at", F.DATETIME, key="birth_at"),
        FieldSpec("score", F.NUMBER, key="score"),
        FieldSpec("budget", F.DECIMAL, key="budget"),
        FieldSpec("vip", F.BOOLEAN, custom=True),
        FieldSpec("hubspot_owner_id", F.USER, key="owner"),
        FieldSpec("company", F.LOOKUP, key="company", lookup_target="account"),
        FieldSpec("leadline_id", F.TEXT, custom=True, unique=True),
    ),
)
ACCOUNT_A = ObjectSpec(
    name="account",
    vendor_name="Accounts",
    fields=(
        FieldSpec("Account_Name", F.TEXT, key="name"),
        FieldSpec("Leadline_Id", F.TEXT, custom=True, unique=True),
    ),
)
ACCOUNT_B = ObjectSpec(
    name="account",
    vendor_name="companies",
    fields=(FieldSpec("name", F.TEXT, key="company_name"), FieldSpec("leadline_id", F.TEXT, custom=True, unique=True)),
)
SPECS = {"a": {"lead": LEAD_A, "account": ACCOUNT_A}, "b": {"lead": LEAD_B, "account": ACCOUNT_B}}

# alias -> (A's field, B's field, LinkField options)
LEAD_FIELDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "last_name": ("Last_Name", "lastname", {}),
    "email": ("Email", "email", {}),
    "phone": ("Phone", "phone", {}),
    "status": ("Lead_Status", "hs_lead_status", {"values_a_to_b": {"Contacted": "CONNECTED"}}),
    "birthday": ("Birthday", "birth_at", {}),
    "score": ("Score", "score", {"direction": LinkField.Direction.A_TO_B}),
    "budget": ("Budget", "budget", {"conflict": LinkField.Conflict.B_WINS}),
    "vip": ("VIP", "vip", {"clears": True, "conflict": LinkField.Conflict.A_WINS}),
    "owner": ("Owner", "hubspot_owner_id", {}),
    "account": ("Account_Name", "company", {}),
}

_ids = itertools.count(1)


def record_of(spec: ObjectSpec, record_id: str, *, modified: datetime | None = None, **values: Any) -> CanonicalRecord:
    """A record of `spec` as a provider's to_canonical gives it, from values by vendor field name (typed as
    Leadline reads them): lookups and owners under "<key>_id", the e-mail and owner also in their columns, phones
    also in E.164, custom fields by name."""
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    phones: dict[str, str] = {}
    email = owner = ""
    for name, value in values.items():
        field = spec.field(name)
        target = custom if field.custom else fields
        key = field.name if field.custom else field.key
        if field.type in (F.USER, F.LOOKUP):
            key = f"{key}_id"
        target[key] = value
        if field.type == F.EMAIL:
            email = value or ""
        elif field.type == F.USER:
            owner = value or ""
        elif field.type == F.PHONE and value:
            phones[field.name] = e164_or_blank(value, "US")
    return CanonicalRecord(
        object=spec.name,
        id=record_id,
        modified_time=modified or timezone.now(),
        name=str(values.get("Last_Name") or values.get("lastname") or ""),
        email=email,
        owner_id=owner,
        phones=phones,
        fields=fields,
        custom_fields=custom,
    )


def mirror_write(connection: ProviderAccount, object: str, records: list[CanonicalRecord]) -> None:
    """Write records to the mirror as a sync run does: a SyncRun, one batch, its transaction."""
    now = timezone.now()
    run = SyncRun.objects.create(
        organization_id=connection.organization_id, connection=connection, object=object, started_at=now
    )
    key = MirrorKey(organization_id=connection.organization_id, connection_id=connection.pk, object=object)
    with transaction.atomic():
        crm_records_upsert(key=key, records=records, run_id=run.pk, now=now)


def mirror_delete(connection: ProviderAccount, object: str, ids: list[str], *, confirmed: bool = True) -> None:
    now = timezone.now()
    run = SyncRun.objects.create(
        organization_id=connection.organization_id, connection=connection, object=object, started_at=now
    )
    key = MirrorKey(organization_id=connection.organization_id, connection_id=connection.pk, object=object)
    with transaction.atomic():
        crm_records_mark_deleted(
            key=key, deletions=dict.fromkeys(ids, now), run_id=run.pk, now=now, confirmed=confirmed
        )


def link_make(
    *, organization, connection_a, connection_b, state: str = SyncLink.State.RUNNING, **options: Any
) -> SyncLink:
    return SyncLink.objects.create(
        organization=organization,
        name=f"link-{next(_ids)}",
        connection_a=connection_a,
        connection_b=connection_b,
        state=state,
        started_at=timezone.now() if state != SyncLink.State.DRAFT else None,
        **options,
    )


class World:
    """An organization, its two connections (A: zoho_crm, B: hubspot), a link of accounts and leads."""

    def __init__(self, *, state: str = SyncLink.State.RUNNING) -> None:
        self.organization = OrganizationFactory(slug=f"links-{next(_ids)}")
        self.connection_a = self._connection("zoho_crm")
        self.connection_b = self._connection("hubspot")
        for side, connection in (("a", self.connection_a), ("b", self.connection_b)):
            for object, spec in SPECS[side].items():
                object_spec_prime(connection=connection, object=object, spec=spec)
        self.link = link_make(
            organization=self.organization,
            connection_a=self.connection_a,
            connection_b=self.connection_b,
            state=state,
            time_zone="America/New_York",
        )
        self.accounts = LinkObject.objects.create(
            organization=self.organization,
            link=self.link,
            object_a="account",
            object_b="account",
            external_id_a="Leadline_Id",
            external_id_b="leadline_id",
            match_by=["external_id"],
            position=0,
        )
        LinkField.objects.create(
            organization=self.organization, link_object=self.accounts, field_a="Account_Name", field_b="name"
        )
        self.leads = LinkObject.objects.create(
            organization=self.organization,
            link=self.link,
            object_a="lead",
            object_b="lead",
            external_id_a="Leadline_Id",
            external_id_b="leadline_id",
            match_by=["external_id", "email", "phone"],
            position=1,
        )
        self.fields = {
            alias: LinkField.objects.create(
                organization=self.organization, link_object=self.leads, field_a=field_a, field_b=field_b, **options
            )
            for alias, (field_a, field_b, options) in LEAD_FIELDS.items()
        }

    def _connection(self, kind: str) -> ProviderAccount:
        return ProviderAccount.objects.create(
            organization=self.organization,
            name=f"{kind.replace('_', '-')}-{next(_ids)}",
            kind=kind,
            is_default=False,
            client_id="client",
            client_secret="secret",
            refresh_token="refresh",
        )

    def connection(self, side: str) -> ProviderAccount:
        return self.connection_a if side == "a" else self.connection_b

    def spec(self, side: str, object: str = "lead") -> ObjectSpec:
        return SPECS[side][object]

    def lead_a(self, record_id: str, *, modified: datetime | None = None, **values: Any) -> CanonicalRecord:
        return record_of(LEAD_A, record_id, modified=modified, **values)

    def lead_b(self, record_id: str, *, modified: datetime | None = None, **values: Any) -> CanonicalRecord:
        return record_of(LEAD_B, record_id, modified=modified, **values)

    def mirror(self, side: str, records: list[CanonicalRecord], object: str = "lead") -> None:
        mirror_write(self.connection(side), object, records)

    def delete(self, side: str, ids: list[str], *, object: str = "lead", confirmed: bool = True) -> None:
        mirror_delete(self.connection(side), object, ids, confirmed=confirmed)

    def changes(self, **filters: Any) -> list[LinkChange]:
        return list(LinkChange.objects.unscoped().filter(link=self.link, **filters).order_by("id"))


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture
def draft_world(db) -> World:
    return World(state=SyncLink.State.DRAFT)


def moments(start: datetime | None = None, step: float = 1.0):
    """Successive aware datetimes one `step` seconds apart (modified times that order edits)."""
    moment = start or datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    while True:
        yield moment
        moment += timedelta(seconds=step)
