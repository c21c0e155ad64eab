"""Rows of a two-way sync link as the engine leaves them (writes done and failed, a conflict, a review, pairs, mirror
rows of the candidates), made directly for the tests of what people see: the status, the admin, the dashboard and
the alerts. Each tenant of tests/conftest.py (tenant_a, tenant_b) gets its own link between its Zoho connection and
a second (HubSpot) connection, marked with a word that appears in its visible values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from links.models import LinkConflict, LinkField, LinkObject, LinkWrite, MatchReview, RecordPair, SyncLink
from studios.models import ProviderAccount
from sync.models import CrmPhone, CrmRecord, SyncRun


@dataclass
class Rows:
    tenant: object
    marker: str
    link: SyncLink
    link_object: LinkObject
    link_field: LinkField
    pair: RecordPair
    failed: LinkWrite
    done: LinkWrite
    conflict: LinkConflict
    review: MatchReview
    candidates: list[CrmRecord] = field(default_factory=list)

    @property
    def organization(self):
        return self.tenant.organization

    def obj(self, page: str):
        return {
            "synclink": self.link,
            "linkobject": self.link_object,
            "linkwrite": self.failed,
            "linkconflict": self.conflict,
            "matchreview": self.review,
            "recordpair": self.pair,
        }[page]


def second_connection(organization, name: str) -> ProviderAccount:
    return ProviderAccount.objects.create(
        organization=organization,
        name=name,
        kind="hubspot",
        is_default=False,
        client_id="client",
        client_secret="secret",
        refresh_token="refresh",
    )


def mirror_row(connection, object: str, external_id: str, *, name: str, email: str = "", phone: str = "") -> CrmRecord:
    now = timezone.now()
    run = SyncRun.unscoped_objects.create(
        organization_id=connection.organization_id, connection=connection, object=object, started_at=now
    )
    row = CrmRecord.unscoped_objects.create(
        organization_id=connection.organization_id,
        connection=connection,
        object=object,
        external_id=external_id,
        name=name,
        email=email,
        modified_time=now,
        content_hash="0" * 32,
        fields={"last_name": name},
        synced_at=now,
        run=run,
    )
    if phone:
        CrmPhone.unscoped_objects.create(
            organization_id=connection.organization_id,
            connection=connection,
            object=object,
            external_id=external_id,
            field="Phone",
            e164=phone,
        )
    return row


def write(rows_or_link, *, pair, state=LinkWrite.State.DONE, side="b", **values) -> LinkWrite:
    link = rows_or_link
    return LinkWrite.unscoped_objects.create(
        organization_id=link.organization_id,
        link=link,
        link_object=pair.link_object,
        pair=pair,
        side=side,
        operation=values.pop("operation", LinkWrite.Operation.UPDATE),
        origin=values.pop("origin", LinkWrite.Origin.A),
        state=state,
        **values,
    )


def build(tenant, marker: str, *, state: str = SyncLink.State.RUNNING, digits: str = "1") -> Rows:
    """A running link of `tenant` with a done write, a failed write, a conflict and an open review."""
    org = tenant.organization
    now = timezone.now()
    other = second_connection(org, f"{tenant.organization.slug}-hubspot")
    link = SyncLink.objects.create(
        organization=org,
        name=f"link-{marker}",
        connection_a=tenant.zoho,
        connection_b=other,
        state=state,
        started_at=now if state != SyncLink.State.DRAFT else None,
    )
    link_object = LinkObject.objects.create(
        organization=org,
        link=link,
        object_a="lead",
        object_b="lead",
        external_id_a="Leadline_Id",
        external_id_b="leadline_id",
        match_by=["email"],
    )
    link_field = LinkField.objects.create(
        organization=org, link_object=link_object, field_a="Last_Name", field_b="lastname"
    )
    id_a = f"41508680000{digits * 8}"
    pair = RecordPair.objects.create(
        organization=org, link=link, link_object=link_object, id_a=id_a, id_b=f"90{digits * 6}", matched_by="email"
    )
    done = write(
        link,
        pair=pair,
        values={"lastname": f"New-{marker}"},
        previous={"lastname": f"Old-{marker}"},
        hashes={str(link_field.pk): "h"},
        source_modified_at=now - timedelta(seconds=30),
        done_at=now - timedelta(seconds=20),
        sent_at=now - timedelta(seconds=21),
    )
    failed = write(
        link,
        pair=pair,
        side="a",
        state=LinkWrite.State.FAILED,
        origin=LinkWrite.Origin.B,
        values={"Last_Name": f"Refused-{marker}"},
        previous={"Last_Name": f"Old-{marker}"},
        hashes={str(link_field.pk): "r"},
        error_code="INVALID_DATA",
        error_message=f"validation rule says no to {marker}",
        error_fields={"Last_Name": "too long"},
        attempts=1,
        sent_at=now - timedelta(seconds=5),
    )
    conflict = LinkConflict.objects.create(
        organization=org,
        link=link,
        link_object=link_object,
        pair=pair,
        link_field=link_field,
        value_a=f"A-{marker}",
        value_b=f"B-{marker}",
        winner="a",
        rule=LinkConflict.Rule.LATEST,
    )
    candidates = [
        mirror_row(
            other, "lead", f"77{digits}1", name=f"Cand One {marker}", email=f"{marker}@x.test", phone="+14155552301"
        ),
        mirror_row(other, "lead", f"77{digits}2", name=f"Cand Two {marker}", email=f"{marker}@x.test"),
    ]
    mirror_row(tenant.zoho, "lead", f"41508680009{digits * 8}", name=f"Reviewed {marker}", email=f"{marker}@x.test")
    review = MatchReview.objects.create(
        organization=org,
        link=link,
        link_object=link_object,
        side="a",
        external_id=f"41508680009{digits * 8}",
        candidates=[row.external_id for row in candidates],
        matched_by="email",
        match_value=f"{marker}@x.test",
    )
    return Rows(tenant, marker, link, link_object, link_field, pair, failed, done, conflict, review, candidates)


def ago(seconds: float, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=seconds)
