"""A keyword reply (YES) from a lead: find the lead, send the studio's follow-up text, create a task.

The lead is found by the contact's link (set when the welcome text went out), else by the newest intake with
this phone, else by a phone search in the CRM. The most engaged leads answer within seconds, often before the CRM
shows the lead or before its webhook arrived, so a reply that matches nothing keeps trying with backoff for the
organization's window; then a task not attached to any lead is created and the reply is flagged for managers.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from automation.models import ReplyFollowUp
from automation.selectors import (
    automation_settings_get,
    lead_intake_for_phone,
    studio_automation_get,
)
from automation.services.common import (
    Progress,
    crm_error_text,
    lead_full_name,
    lease_take,
    merge_context,
    retry_delay,
    step_record,
)
from core import merge_fields
from core.exceptions import ApplicationError
from crm.connections import crm_connection_get
from crm.errors import CrmError, CrmNotFound, CrmUnavailable
from crm.provider import CrmProvider
from crm.records import CanonicalObject, CanonicalRecord, Priority
from crm.registry import provider_for
from messaging.models import Message
from messaging.selectors import phone_is_opted_out
from messaging.services.sending import message_send
from messaging.services.threads import conversation_flag, conversation_touch
from studios.models import TEMPLATE_FIELDS
from studios.selectors import membership_for_crm_user

logger = structlog.get_logger(__name__)

S = ReplyFollowUp.Status
LEAD = CanonicalObject.LEAD


def reply_keyword_matches(*, body: str, keyword: str) -> bool:
    return bool(keyword) and (body or "").strip().upper() == keyword.strip().upper()


def reply_received(*, message: Message) -> ReplyFollowUp | None:
    """Called for every new inbound text: a reply of the organization's keyword starts a follow-up."""
    settings_row = automation_settings_get(organization=message.organization)
    if not settings_row.is_enabled or not reply_keyword_matches(body=message.body, keyword=settings_row.reply_keyword):
        return None
    try:
        with transaction.atomic():
            reply = ReplyFollowUp.unscoped_objects.create(
                organization=message.organization, studio=message.studio, message=message
            )
            step_record(
                organization=message.organization,
                reply=reply,
                studio=message.studio,
                step="reply_received",
                detail=f"{message.from_number} replied {message.body.strip()!r}",
            )
            transaction.on_commit(partial(reply_enqueue, reply.pk))
    except IntegrityError:
        return None  # this message already has its follow-up
    return reply


def reply_enqueue(reply_id: int, countdown: float | None = None) -> None:
    """Publish the reply's task (a first run, the sweep, "try again"; retries are the task's own)."""
    from automation.tasks import reply_process_task

    try:
        reply_process_task.apply_async((reply_id,), countdown=countdown)
    except Exception:
        logger.exception("reply_enqueue_failed", reply_id=reply_id)  # the due sweep picks it up


class _Wait(Exception):
    """No lead yet, or the CRM cannot answer now: try again later (not before `retry_after` when it said)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def reply_process(*, reply_id: int) -> Progress:
    """Advance a reply; returns the outcome and, while it waits for its lead, the seconds until the next try (the
    task publishes it; next_attempt_at is saved for the due sweep)."""
    if not lease_take(ReplyFollowUp, pk=reply_id, statuses=(S.PENDING,)):
        return Progress("skipped")
    reply = (
        ReplyFollowUp.objects.unscoped()
        .select_related("organization", "studio", "connection", "message__contact__connection")
        .get(pk=reply_id)
    )
    log = partial(step_record, organization=reply.organization, reply=reply)
    reply.attempts += 1
    retry_in = None
    try:
        outcome = _advance(reply, log)
    except _Wait as exc:
        window = timedelta(minutes=automation_settings_get(organization=reply.organization).reply_match_minutes)
        delay = retry_delay(reply.attempts)
        if delay is not None:
            delay = max(delay, exc.retry_after or 0)
        if delay is None or timezone.now() + timedelta(seconds=delay) > reply.created_at + window:
            outcome = _unmatched(reply, log, str(exc))
        else:
            log(step="lead_match", outcome="retry", detail=f"{exc}; next try in {delay:.0f} s")
            reply.next_attempt_at, retry_in, outcome = timezone.now() + timedelta(seconds=delay), delay, "waiting"
    reply.lease_until = None
    reply.save()
    return Progress(outcome, retry_in)


def _provider(reply: ReplyFollowUp) -> CrmProvider | None:
    """The provider of the reply's connection: the one its lead was found in, else the contact's, else the
    organization's CRM connection (which the reply keeps)."""
    contact = reply.message.contact
    if reply.connection_id is None:
        reply.connection = contact.connection or crm_connection_get(organization=reply.organization)
    if reply.connection is None:
        return None
    try:
        return provider_for(reply.connection, priority=Priority.BACKGROUND)
    except CrmError:
        return None  # no provider serves the connection's kind any more


def _lead_find(reply: ReplyFollowUp, provider: CrmProvider) -> CanonicalRecord | None:
    message = reply.message
    contact = message.contact
    linked = contact.crm_object == LEAD and contact.connection_id == reply.connection_id
    lead_id = contact.crm_record_id if linked else ""
    if not lead_id:
        intake = lead_intake_for_phone(organization=reply.organization, phone=message.from_number)
        lead_id = intake.crm_record_id if intake and intake.connection_id == reply.connection_id else ""
    if lead_id:
        try:
            return provider.record(object=LEAD, record_id=lead_id)
        except CrmNotFound:
            return None
    found = provider.records_by_phone(object=LEAD, phone=message.from_number)
    # Several leads with one phone: the newest is the one who just asked to be contacted.
    return max(found, key=lambda lead: lead.created_time or lead.modified_time) if found else None


def _advance(reply: ReplyFollowUp, log) -> str:
    provider = _provider(reply)
    if provider is None:
        return _unmatched(reply, log, "the organization has no CRM connection")
    try:
        lead = _lead_find(reply, provider)
    except CrmUnavailable as exc:
        raise _Wait(f"the CRM is unavailable ({crm_error_text(exc)})", retry_after=exc.retry_after) from exc
    except CrmError as exc:  # the connection needs a person, or the CRM refused the search
        return _unmatched(reply, log, f"the CRM refused the lookup: {exc}")
    if lead is None:
        raise _Wait(f"no lead with {reply.message.from_number} in the CRM yet")
    reply.crm_record_id = lead.id
    owner_id, owner_name = lead.owner_id, lead.owner_name
    name = lead_full_name(lead) or reply.message.from_number
    contact = reply.message.contact
    if not contact.crm_record_id:
        contact.connection, contact.crm_object = reply.connection, LEAD
        contact.crm_record_id, contact.crm_owner_id = reply.crm_record_id, owner_id
        contact.name = contact.name or name
        contact.save(update_fields=["connection", "crm_object", "crm_record_id", "crm_owner_id", "name", "updated_at"])
    log(step="lead_match", detail=f"{name} (lead {reply.crm_record_id})")
    studio = reply.studio or _owner_studio(reply, owner_id)
    blocked = None
    if reply.follow_up_message_id is None and studio is not None:
        blocked = _follow_up_send(reply=reply, studio=studio, lead=lead, owner_name=owner_name, log=log)
    if not reply.crm_task_id:
        try:
            reply.crm_task_id = provider.create_task(
                object=LEAD,
                record_id=reply.crm_record_id,
                owner_id=owner_id,
                subject=f"Call {name}: replied {reply.message.body.strip()[:20]}",
                description=f"{name} replied to the welcome text{f' from {studio.name}' if studio else ''}.",
            )
        except CrmError as exc:
            said = exc.retry_after if isinstance(exc, CrmUnavailable) else None
            raise _Wait(f"the CRM refused the task for now ({crm_error_text(exc)})", retry_after=said) from exc
        ReplyFollowUp.objects.unscoped().filter(pk=reply.pk).update(crm_task_id=reply.crm_task_id)
        log(step="task_created", detail=f"task {reply.crm_task_id} for {owner_name or 'the connection owner'}")
    if blocked:
        # The task is made; the text waits for a person (the thread is flagged where they work).
        conversation_flag(conversation=reply.message.conversation, reason=blocked)
        reply.status, reply.attention_reason, reply.next_attempt_at = S.NEEDS_ATTENTION, blocked[:300], None
        log(step="needs_attention", outcome="failed", detail=blocked)
        return "needs_attention"
    reply.status, reply.next_attempt_at = S.DONE, None
    log(step="done")
    return "done"


def _owner_studio(reply: ReplyFollowUp, owner_id: str):
    owner = membership_for_crm_user(connection=reply.connection, crm_user_id=owner_id) if reply.connection else None
    studios = [s for s in owner.studios.all() if s.is_active] if owner else []
    return studios[0] if len(studios) == 1 else None


def _follow_up_send(*, reply: ReplyFollowUp, studio, lead: CanonicalRecord, owner_name: str, log) -> str | None:
    """Send the follow-up text, or log why not; returns the reason when a person must act (a required merge field
    is blank, or the template is invalid), so "Try again now" sends it once that is fixed."""
    phone = reply.message.from_number
    if phone_is_opted_out(organization=reply.organization, phone=phone):
        log(step="sms_skipped", outcome="skipped", detail=f"{phone} has opted out", studio=studio)
        return None
    template = studio_automation_get(studio=studio).follow_up_message
    context = merge_context(record=lead, studio_name=studio.name, owner_name=owner_name)
    try:
        rendered = merge_fields.render(template, context, allowed=TEMPLATE_FIELDS)
    except merge_fields.TemplateError as exc:
        reason = f"follow-up text not sent: the template of {studio.name} is not valid ({exc})"
        log(step="sms_skipped", outcome="failed", detail=reason, studio=studio)
        return reason
    if rendered.missing:
        reason = f"follow-up text not sent: {rendered.reason}"
        log(step="sms_skipped", outcome="failed", detail=reason, studio=studio)
        return reason
    body = rendered.text
    try:
        message = message_send(
            studio=studio, to=phone, body=body, from_number=reply.message.phone_number, kind=Message.Kind.AUTOMATED
        )
    except ApplicationError as exc:
        # The number it came in on may not serve this studio; let the studio's own number answer.
        try:
            message = message_send(studio=studio, to=phone, body=body, kind=Message.Kind.AUTOMATED)
        except ApplicationError:
            log(step="sms_skipped", outcome="skipped", detail=exc.message, studio=studio)
            return None
    reply.follow_up_message = message
    ReplyFollowUp.objects.unscoped().filter(pk=reply.pk).update(follow_up_message=message)
    log(step="sms_sent", detail=f"follow-up text queued from {message.from_number}", studio=studio)
    return None


def _unmatched(reply: ReplyFollowUp, log, reason: str) -> str:
    """No lead after the whole window: a task for a person, not attached to a lead, and the thread flagged."""
    message = reply.message
    provider = _provider(reply)
    detail = f"Reply {message.body.strip()!r} from {message.from_number} matched no lead: {reason}"
    if provider is not None and not reply.crm_task_id:
        try:
            reply.crm_task_id = provider.create_task(
                object=LEAD,
                record_id="",
                owner_id="",
                subject=f"Unmatched reply from {message.from_number}",
                description=detail + ". Find or create the lead and follow up.",
            )
            log(step="task_created", detail=f"unattached task {reply.crm_task_id}")
        except CrmError as exc:
            log(step="task_created", outcome="failed", detail=f"the CRM refused the unattached task: {exc}")
    conversation_touch(conversation=message.conversation, message=message, attention=detail)
    reply.status, reply.attention_reason, reply.next_attempt_at = S.NEEDS_ATTENTION, detail[:300], None
    log(step="needs_attention", outcome="failed", detail=detail)
    return "needs_attention"
