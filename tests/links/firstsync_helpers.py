"""A small world for the first-sync tests (matching, preview, configuration, start): an organization with a Zoho
CRM connection (side A, leads) and a HubSpot one (side B, contacts), field specs as the CRMs would give them (primed
in the spec cache, so no CRM is asked), and mirror rows written the way the mirror writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.records import CanonicalRecord, FieldSpec, FieldType, ObjectSpec
from links.metadata import object_spec_prime
from links.models import LinkField, LinkObject, SyncLink
from studios.models import ProviderAccount
from sync.content import MirrorKey
from sync.models import SyncRun
from sync.upsert import crm_records_mark_deleted, crm_records_upsert
from tests.factories import OrganizationFactory

LEAD_SPEC = ObjectSpec(
    name="lead",
    vendor_name="Leads",
    fields=(
        FieldSpec(name="Last_Name", key="last_name", type=FieldType.TEXT, required=True),
        FieldSpec(name="Email", key="email", type=FieldType.EMAIL),
        FieldSpec(name="Secondary_Email", type=FieldType.EMAIL, custom=True),
        FieldSpec(name="Phone", key="phone", type=FieldType.PHONE),
        FieldSpec(name="Lead_Status", key="lead_status", type=FieldType.PICKLIST, choices=("New", "Contacted", "Junk")),
        FieldSpec(name="Leadline_Id", type=FieldType.TEXT, custom=True, unique=True),
        FieldSpec(name="Created_Time", key="created_time", type=FieldType.DATETIME, read_only=True),
    ),
)
CONTACT_SPEC = ObjectSpec(
    name="contact",
    vendor_name="contacts",
    fields=(
        FieldSpec(name="lastname", key="last_name", type=FieldType.TEXT),
        FieldSpec(name="email", key="email", type=FieldType.EMAIL),
        FieldSpec(name="phone", key="phone", type=FieldType.PHONE),
        FieldSpec(
            name="hs_lead_status", key="lead_status", type=FieldType.PICKLIST, choices=("NEW", "CONNECTED", "BAD")
        ),
        FieldSpec(name="leadline_id", type=FieldType.TEXT, custom=True, unique=True),
        FieldSpec(name="createdate", key="created_time", type=FieldType.DATETIME, read_only=True),
        FieldSpec(name="notes_count", type=FieldType.NUMBER, custom=True),
    ),
)
SPECS = (LEAD_SPEC, CONTACT_SPEC)
_times = count()


class World:
    """One organization, its two CRM connections and a draft link lead ⇄ contact with three fields."""

    def __init__(self, slug: str = "acme", *, match_by: tuple[str, ...] = ("external_id", "email", "phone")):
        self.organization = OrganizationFactory(slug=slug, name=f"{slug.title()} Fitness")
        self.zoho = ProviderAccount.objects.create(
            organization=self.organization,
            name=f"{slug}-zoho",
            kind="zoho_crm",
            client_id="1000.X",
            client_secret="secret",
            refresh_token="1000.refresh",
        )
        self.hubspot = ProviderAccount.objects.create(
            organization=self.organization,
            name=f"{slug}-hubspot",
            kind="hubspot",
            client_id="hs-client",
            client_secret="secret",
            refresh_token="hs-refresh",
        )
        object_spec_prime(connection=self.zoho, object="lead", spec=LEAD_SPEC)
        object_spec_prime(connection=self.hubspot, object="contact", spec=CONTACT_SPEC)
        self.link = SyncLink.objects.create(
            organization=self.organization, name=f"{slug}-sync", connection_a=self.zoho, connection_b=self.hubspot
        )
        self.lead_contact = LinkObject.objects.create(
            organization=self.organization,
            link=self.link,
            object_a="lead",
            object_b="contact",
            external_id_a="Leadline_Id",
            external_id_b="leadline_id",
            match_by=list(match_by),
        )
        self.fields = [
            LinkField.objects.create(
                organization=self.organization, link_object=self.lead_contact, field_a="Last_Name", field_b="lastname"
            ),
            LinkField.objects.create(
                organization=self.organization, link_object=self.lead_contact, field_a="Email", field_b="email"
            ),
            LinkField.objects.create(
                organization=self.organization,
                link_object=self.lead_contact,
                field_a="Lead_Status",
                field_b="hs_lead_status",
                values_a_to_b={"Contacted": "CONNECTED"},
            ),
        ]

    def connection(self, side: str) -> ProviderAccount:
        return self.zoho if side == "a" else self.hubspot

    def mirror(self, side: str, *records: dict[str, Any], status: str = SyncRun.Status.OK) -> None:
        """Rows as a finished sync run of that side writes them: each {"id", "email", "phone", "name", "fields",
        "custom"}."""
        connection = self.connection(side)
        object_name = "lead" if side == "a" else "contact"
        now = timezone.now()
        run = SyncRun.objects.create(
            organization=self.organization,
            connection=connection,
            object=object_name,
            started_at=now,
            finished_at=now,
            status=status,
        )
        canonical = [
            CanonicalRecord(
                object=object_name,
                id=str(record["id"]),
                modified_time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_times)),
                name=record.get("name", f"Person {record['id']}"),
                email=record.get("email", ""),
                phones={"phone": record["phone"]} if record.get("phone") else {},
                fields={"last_name": record.get("name", f"Person {record['id']}"), **record.get("fields", {})},
                custom_fields=record.get("custom", {}),
            )
            for record in records
        ]
        key = MirrorKey(organization_id=self.organization.pk, connection_id=connection.pk, object=object_name)
        with transaction.atomic():
            crm_records_upsert(key=key, records=canonical, run_id=run.pk, now=now)

    def delete(self, side: str, *ids: str) -> None:
        connection = self.connection(side)
        object_name = "lead" if side == "a" else "contact"
        now = timezone.now()
        run = SyncRun.objects.create(
            organization=self.organization, connection=connection, object=object_name, started_at=now, status="ok"
        )
        key = MirrorKey(organization_id=self.organization.pk, connection_id=connection.pk, object=object_name)
        with transaction.atomic():
            crm_records_mark_deleted(key=key, deletions=dict.fromkeys(ids, now), run_id=run.pk, now=now)
