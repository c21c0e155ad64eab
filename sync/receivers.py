"""The mirror's part in messaging's flow: receivers of messaging's hooks (messaging/hooks.py), registered when the
app starts (SyncConfig.ready), so messaging never imports sync (sync is the layer above it)."""

from __future__ import annotations

from messaging.hooks import CrmOwner, CrmRecordRef, crm_owner_finder, crm_record_finder
from studios.models import Organization
from sync.selectors import crm_records_by_phone


@crm_owner_finder
def mirrored_crm_owner(*, organization: Organization, phone: str) -> CrmOwner | None:
    """Who owns the mirrored record with this phone (no CRM call). Several records with one phone (a lead and its
    contact): the most recently modified one decides."""
    record = (
        crm_records_by_phone(organization=organization, e164=phone)
        .exclude(owner_id="")
        .select_related("connection")
        .order_by("-modified_time")
        .first()
    )
    return CrmOwner(connection=record.connection, crm_user_id=record.owner_id) if record else None


# Which of a phone's mirrored records a text is about: a lead before a contact, then the most recently modified.
_TIMELINE_OBJECTS = ("lead", "contact")


@crm_record_finder
def mirrored_crm_record(*, organization: Organization, phone: str) -> CrmRecordRef | None:
    """The mirrored lead or contact with this phone (no CRM call), for a text's place on the CRM timeline."""
    records = (
        crm_records_by_phone(organization=organization, e164=phone)
        .filter(object__in=_TIMELINE_OBJECTS)
        .select_related("connection")
        .order_by("-modified_time")
    )
    found = sorted(records[:20], key=lambda record: _TIMELINE_OBJECTS.index(record.object))
    if not found:
        return None
    return CrmRecordRef(connection=found[0].connection, object=found[0].object, record_id=found[0].external_id)
