"""The mirror's part in messaging's flow: receivers of messaging's hooks (messaging/hooks.py), registered when the
app starts (SyncConfig.ready), so messaging never imports sync (sync is the layer above it)."""

from __future__ import annotations

from messaging.hooks import CrmOwner, crm_owner_finder
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
