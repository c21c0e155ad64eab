"""The opt-out ledger: one state per (organization, phone), every change an event, and every change queued for
the CRM's opt-out field. An opt-out covers every number and provider of the organization.

Apart from it, the provider's own blocks per sender (SenderBlock): Twilio refuses sends from a number the person
texted STOP to until they text START to that number, whatever the ledger says."""

from __future__ import annotations

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.connections import crm_connection_get
from messaging.models import (
    Contact,
    CrmWriteBack,
    Message,
    OptOut,
    OptOutEvent,
    OptOutSource,
    OptOutState,
    SenderBlock,
)
from messaging.selectors import crm_opt_out_field_get, stop_to_sender_on_record
from studios.models import Membership, Organization

logger = structlog.get_logger(__name__)


@transaction.atomic
def opt_out_set(
    *,
    organization: Organization,
    phone: str,
    state: str,
    source: str,
    reason: str = "",
    message: Message | None = None,
    changed_by: Membership | None = None,
) -> tuple[OptOut, bool]:
    """Record that `phone` opted out or back in. Returns the ledger row and whether the state changed (a second
    STOP is recorded as nothing new)."""
    if changed_by is not None and changed_by.organization_id != organization.pk:
        raise ValueError("changed_by must be a member of the organization whose ledger changes")
    now = timezone.now()
    # The row lock serialises concurrent changes of one phone (a STOP racing a manager's edit).
    rows = OptOut.objects.for_organization(organization).select_for_update()
    opt_out = rows.filter(phone=phone).first()
    created = False
    if opt_out is None:
        try:
            with transaction.atomic():
                opt_out = OptOut.unscoped_objects.create(
                    organization=organization,
                    phone=phone,
                    state=state,
                    source=source,
                    reason=reason,
                    changed_at=now,
                    changed_by=changed_by,
                )
            created = changed = True
        except IntegrityError:  # a concurrent STOP created it first: apply this change on top of it
            opt_out = rows.get(phone=phone)
    if not created:
        changed = opt_out.state != state
        if not changed and source != OptOutSource.MANUAL:
            return opt_out, False  # a second STOP is nothing new; a manager's note is still recorded
        opt_out.state, opt_out.source, opt_out.reason = state, source, reason
        opt_out.changed_at, opt_out.changed_by = now, changed_by
        opt_out.save()
    OptOutEvent.unscoped_objects.create(
        organization=organization,
        opt_out=opt_out,
        state=state,
        source=source,
        reason=reason,
        message=message,
        changed_by=changed_by,
        created_at=now,
    )
    if changed:
        crm_write_back_queue(organization=organization, phone=phone, opted_out=state == OptOutState.OPTED_OUT)
    logger.info("opt_out_changed", organization=organization.slug, state=state, source=source, changed=changed)
    return opt_out, changed


def crm_write_back_queue(*, organization: Organization, phone: str, opted_out: bool) -> CrmWriteBack | None:
    """Queue the CRM's opt-out field for this phone's lead/contact; a newer change replaces a pending one."""
    field = crm_opt_out_field_get(organization=organization)
    if not field:
        return None
    contact = Contact.objects.for_organization(organization).filter(phone=phone).first()
    pending = (
        CrmWriteBack.objects.for_organization(organization)
        .select_for_update()
        .filter(phone=phone, field=field, status=CrmWriteBack.Status.PENDING)
    )
    existing = pending.first()
    # The linked record's CRM; else the organization's (None: chosen when the write-back is written).
    linked = contact.connection if contact is not None and contact.crm_record_id else None
    connection = linked or crm_connection_get(organization=organization)
    if existing is not None:
        existing.value, existing.contact, existing.connection = opted_out, contact, connection
        existing.save(update_fields=["value", "contact", "connection", "updated_at"])
        return existing
    return CrmWriteBack.unscoped_objects.create(
        organization=organization, connection=connection, contact=contact, phone=phone, field=field, value=opted_out
    )


def sender_block_record(
    *, organization: Organization, sender: str, phone: str, provider: str, reason: str, message: Message | None = None
) -> tuple[SenderBlock, bool]:
    """Remember that the provider blocks `sender` (our number) for `phone`. Returns the row and whether it is new."""
    block, created = SenderBlock.unscoped_objects.get_or_create(
        organization=organization,
        sender=sender,
        phone=phone,
        defaults={"provider": provider, "reason": reason[:300], "message": message},
    )
    if created:
        logger.info("sender_block_recorded", organization=organization.slug, sender=sender, provider=provider)
    return block, created


def sender_block_clear(*, organization: Organization, sender: str, phone: str) -> bool:
    """The person texted START to `sender`: the provider lifts its block, and so do we."""
    deleted, _ = SenderBlock.objects.for_organization(organization).filter(sender=sender, phone=phone).delete()
    if deleted:
        logger.info("sender_block_cleared", organization=organization.slug, sender=sender)
    return bool(deleted)


@transaction.atomic
def opt_out_provider_refusal(
    *, organization: Organization, sender: str, phone: str, provider: str, code: str, message: Message | None = None
) -> bool:
    """The provider refused `sender` → `phone` because the person texted STOP to that sender (Twilio 21610).

    The sender is blocked from now on. The person's consent changes only when we never heard that STOP (it reached
    the provider alone): a lead who texted STOP to A and START to B stays opted in. Returns whether the
    organization-wide opt-out was set."""
    known = stop_to_sender_on_record(organization=organization, sender=sender, phone=phone)
    sender_block_record(
        organization=organization,
        sender=sender,
        phone=phone,
        provider=provider,
        reason=f"Provider error {code}: the person texted STOP to {sender}",
        message=message,
    )
    if known:
        return False
    opt_out_set(
        organization=organization,
        phone=phone,
        state=OptOutState.OPTED_OUT,
        source=OptOutSource.PROVIDER,
        reason=f"Provider error {code} from {sender}; no STOP to it was on record",
        message=message,
    )
    return True
