"""A keyword reply (YES) from a lead: find the lead, send the studio's follow-up text, create a task.

The lead is found by the contact's link (set when the welcome text went out), else by the newest intake with
this phone, else by a search in Zoho. The most engaged leads answer within seconds, often before Zoho shows the
lead or before its webhook arrived, so a reply that matches nothing keeps trying with backoff for the
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
    crm_account_get,
    lead_intake_for_phone,
    owner_membership_get,
    studio_automation_get,
)
from automation.services.common import (
    lead_full_name,
    lead_owner,
    lease_take,
    merge_context,
    retry_delay,
    step_record,
)
from core import merge_fields
from core.exceptions import ApplicationError
from crm.providers.zoho.client import Priority, ZohoClient
from crm.providers.zoho.errors import ZohoError, ZohoRequestError
from crm.providers.zoho.tokens import ZohoReauthRequired, ZohoTokenError
from messaging.models import Message
from messaging.selectors import phone_is_opted_out
from messaging.services.sending import message_send
from messaging.services.threads import conversation_flag, conversation_touch
from studios.models import TEMPLATE_FIELDS

logger = structlog.get_logger(__name__)

S = ReplyFollowUp.Status


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
    from automation.tasks import reply_process_task

    try:
        reply_process_task.apply_async((reply_id,), countdown=countdown)
    except Exception:
        logger.exception("reply_enqueue_failed", reply_id=reply_id)  # the due sweep picks it up


class _Wait(Exception):
    pass


def reply_process(*, reply_id: int) -> str:
    if not lease_take(ReplyFollowUp, pk=reply_id, statuses=(S.PENDING,)):
        return "skipped"
    reply = (
        ReplyFollowUp.objects.unscoped().select_related("organization", "studio", "message__contact").get(pk=reply_id)
    )
    log = partial(step_record, organization=reply.organization, reply=reply)
    reply.attempts += 1
    retry_in = None
    try:
        outcome = _advance(reply, log)
    except _Wait as exc:
        window = timedelta(minutes=automation_settings_get(organization=reply.organization).reply_match_minutes)
        delay = retry_delay(reply.attempts)
        if delay is None or timezone.now() + timedelta(seconds=delay) > reply.created_at + window:
            outcome = _unmatched(reply, log, str(exc))
        else:
            log(step="lead_match", outcome="retry", detail=f"{exc}; next try in {delay:.0f} s")
            reply.next_attempt_at, retry_in, outcome = timezone.now() + timedelta(seconds=delay), delay, "waiting"
    reply.lease_until = None
    reply.save()
    if retry_in is not None:
        reply_enqueue(reply.pk, retry_in)
    return outcome


def _client(reply: ReplyFollowUp) -> ZohoClient | None:
    account = crm_account_get(organization=reply.organization)
    return ZohoClient(account=account, priority=Priority.BACKGROUND) if account else None


def _lead_find(reply: ReplyFollowUp, client: ZohoClient) -> dict | None:
    message = reply.message
    contact = message.contact
    lead_id = contact.crm_record_id if contact.crm_module == "Leads" else ""
    if not lead_id:
        intake = lead_intake_for_phone(organization=reply.organization, phone=message.from_number)
        lead_id = intake.zoho_lead_id if intake else ""
    if lead_id:
        return client.record_get(module="Leads", record_id=lead_id)
    found = client.records_search_by_phone(module="Leads", phone=message.from_number)
    # Several leads with one phone: the newest is the one who just asked to be contacted.
    return max(found, key=lambda lead: lead.get("Created_Time") or "") if found else None


def _advance(reply: ReplyFollowUp, log) -> str:
    client = _client(reply)
    if client is None:
        return _unmatched(reply, log, "the organization has no Zoho CRM account")
    try:
        lead = _lead_find(reply, client)
    except (ZohoReauthRequired, ZohoRequestError) as exc:
        return _unmatched(reply, log, f"Zoho refused the lookup: {exc}")
    except (ZohoError, ZohoTokenError) as exc:
        raise _Wait(f"Zoho is unavailable ({exc.__class__.__name__}: {exc})") from exc
    if lead is None:
        raise _Wait(f"no lead with {reply.message.from_number} in Zoho yet")
    reply.zoho_lead_id = str(lead["id"])
    owner_id, owner_name = lead_owner(lead)
    name = lead_full_name(lead) or reply.message.from_number
    contact = reply.message.contact
    if not contact.crm_record_id:
        contact.crm_module, contact.crm_record_id, contact.crm_owner_id = "Leads", reply.zoho_lead_id, owner_id
        contact.name = contact.name or name
        contact.save(update_fields=["crm_module", "crm_record_id", "crm_owner_id", "name", "updated_at"])
    log(step="lead_match", detail=f"{name} (lead {reply.zoho_lead_id})")
    studio = reply.studio or _owner_studio(reply, owner_id)
    blocked = None
    if reply.follow_up_message_id is None and studio is not None:
        blocked = _follow_up_send(reply=reply, studio=studio, lead=lead, owner_name=owner_name, log=log)
    if not reply.task_zoho_id:
        try:
            reply.task_zoho_id = client.task_create(
                subject=f"Call {name}: replied {reply.message.body.strip()[:20]}",
                owner_id=owner_id or None,
                what_id=reply.zoho_lead_id,
                what_module="Leads",
                description=f"{name} replied to the welcome text{f' from {studio.name}' if studio else ''}.",
            )
        except (ZohoError, ZohoTokenError) as exc:
            raise _Wait(f"Zoho refused the task for now ({exc.__class__.__name__})") from exc
        ReplyFollowUp.objects.unscoped().filter(pk=reply.pk).update(task_zoho_id=reply.task_zoho_id)
        log(step="task_created", detail=f"task {reply.task_zoho_id} for {owner_name or 'the token owner'}")
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
    owner = owner_membership_get(organization=reply.organization, zoho_user_id=owner_id)
    studios = [s for s in owner.studios.all() if s.is_active] if owner else []
    return studios[0] if len(studios) == 1 else None


def _follow_up_send(*, reply: ReplyFollowUp, studio, lead: dict, owner_name: str, log) -> str | None:
    """Send the follow-up text, or log why not; returns the reason when a person must act (a required merge field
    is blank, or the template is invalid), so "Try again now" sends it once that is fixed."""
    phone = reply.message.from_number
    if phone_is_opted_out(organization=reply.organization, phone=phone):
        log(step="sms_skipped", outcome="skipped", detail=f"{phone} has opted out", studio=studio)
        return None
    template = studio_automation_get(studio=studio).follow_up_message
    context = merge_context(lead=lead, studio_name=studio.name, owner_name=owner_name)
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
    client = _client(reply)
    detail = f"Reply {message.body.strip()!r} from {message.from_number} matched no lead: {reason}"
    if client is not None and not reply.task_zoho_id:
        try:
            reply.task_zoho_id = client.task_create(
                subject=f"Unmatched reply from {message.from_number}",
                description=detail + ". Find or create the lead and follow up.",
            )
            log(step="task_created", detail=f"unattached task {reply.task_zoho_id}")
        except (ZohoError, ZohoTokenError) as exc:
            log(step="task_created", outcome="failed", detail=f"Zoho refused the unattached task: {exc}")
    conversation_touch(conversation=message.conversation, message=message, attention=detail)
    reply.status, reply.attention_reason, reply.next_attempt_at = S.NEEDS_ATTENTION, detail[:300], None
    log(step="needs_attention", outcome="failed", detail=detail)
    return "needs_attention"
