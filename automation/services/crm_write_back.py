"""Opt-out changes written to the CRM: each pending CrmWriteBack (queued by the messaging app's opt-out ledger)
sets the organization's opt-out field on every lead and contact with that phone (the linked record first, else
found by a phone search), through the connection's CRM provider. A record-less phone is marked skipped, not
retried forever; an unavailable CRM leaves it pending for the next flush (the persisted queue is the schedule)."""

from __future__ import annotations

import structlog

from django.utils import timezone

from crm.connections import crm_connection_get
from crm.errors import CrmAuthError, CrmError, CrmRejected
from crm.provider import CrmProvider
from crm.records import CanonicalObject, Priority
from crm.registry import provider_for
from messaging.models import CrmWriteBack

logger = structlog.get_logger(__name__)

MAX_ATTEMPTS = 10
OBJECTS = (CanonicalObject.LEAD, CanonicalObject.CONTACT)


def crm_write_backs_flush(*, limit: int = 200) -> int:
    """Write pending changes, oldest first; returns how many were settled (written, skipped or failed)."""
    pending = list(
        CrmWriteBack.objects.unscoped()
        .select_related("organization", "connection", "contact")
        .filter(status=CrmWriteBack.Status.PENDING)
        .order_by("created_at")[:limit]
    )
    settled = 0
    providers: dict[tuple[int, int | None], CrmProvider | None] = {}
    for write_back in pending:
        key = (write_back.organization_id, write_back.connection_id)
        if key not in providers:
            providers[key] = _provider(write_back)
        settled += crm_write_back_apply(write_back=write_back, provider=providers[key])
    return settled


def _provider(write_back: CrmWriteBack) -> CrmProvider | None:
    connection = write_back.connection or crm_connection_get(organization=write_back.organization)
    if connection is None:
        return None
    try:
        return provider_for(connection, priority=Priority.BACKGROUND)
    except CrmError:
        return None  # no provider serves the connection's kind any more


def _targets(write_back: CrmWriteBack, provider: CrmProvider) -> list[tuple[str, str]]:
    contact = write_back.contact
    if (
        contact is not None
        and contact.crm_object in OBJECTS
        and contact.crm_record_id
        and contact.connection_id in (None, provider.connection.pk)
    ):
        return [(contact.crm_object, contact.crm_record_id)]
    found: list[tuple[str, str]] = []
    for object in OBJECTS:
        found += [(object, record.id) for record in provider.records_by_phone(object=object, phone=write_back.phone)]
    return found


def crm_write_back_apply(*, write_back: CrmWriteBack, provider: CrmProvider | None) -> int:
    def settle(status: str, error: str = "") -> int:
        CrmWriteBack.objects.unscoped().filter(pk=write_back.pk).update(
            status=status, last_error=error[:2000], attempts=write_back.attempts + 1, updated_at=timezone.now()
        )
        return 1

    if provider is None:
        return settle(CrmWriteBack.Status.SKIPPED, "the organization has no CRM connection")
    try:
        targets = _targets(write_back, provider)
        if not targets:
            return settle(CrmWriteBack.Status.SKIPPED, f"no lead or contact in the CRM has {write_back.phone}")
        for object, record_id in targets:
            provider.update_fields(object=object, record_id=record_id, values={write_back.field: write_back.value})
    except CrmAuthError as exc:
        return settle(CrmWriteBack.Status.FAILED, f"the CRM connection must be connected again: {exc}")
    except CrmRejected as exc:
        return settle(CrmWriteBack.Status.FAILED, f"the CRM refused the write: {exc}")
    except CrmError as exc:  # unavailable, rate limited: the next flush tries again
        if write_back.attempts + 1 >= MAX_ATTEMPTS:
            return settle(CrmWriteBack.Status.FAILED, f"the CRM was unavailable after {MAX_ATTEMPTS} tries: {exc}")
        CrmWriteBack.objects.unscoped().filter(pk=write_back.pk).update(
            attempts=write_back.attempts + 1, last_error=str(exc)[:2000], updated_at=timezone.now()
        )
        return 0
    logger.info("crm_write_back_done", phone_suffix=write_back.phone[-4:], targets=len(targets))
    return settle(CrmWriteBack.Status.DONE)
