"""A new lead in the CRM: the CRM's workflow webhook is recorded, then an intake loads the lead through the
connection's CRM provider, finds its studio, creates a follow-up task for the owner and sends the studio's welcome
text. Each step is logged; a step that cannot be done now (the lead is not visible in the CRM yet, the CRM is down)
is retried with backoff (by the task: `automation.tasks`); one that cannot be done at all (no studio, no valid
mobile, opted out, the connection needs a person) ends in a logged, visible outcome. Nothing is dropped silently.

One intake per (organization, connection, lead id) and a saved task id and welcome message make a second delivery
of the same webhook create no second task and no second text. An intake the CRM mirror created first (the call had
not come: automation/services/discovered.py) is started at once when the call comes.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from django.db import IntegrityError, transaction
from django.utils import timezone

from automation.models import LeadIntake
from automation.selectors import (
    automation_settings_get,
    lead_connection_get,
    studio_automation_get,
    studio_by_name,
)
from automation.services.common import (
    Progress,
    crm_error_text,
    due_date_for,
    field_value,
    lead_full_name,
    lead_mobile,
    lease_take,
    merge_context,
    retry_delay,
    step_record,
)
from automation.services.discovered import CALL_MISSING
from core import merge_fields
from core.exceptions import ApplicationError
from core.models import InboundEvent
from core.webhooks import EventFlagged
from crm.errors import CrmAuthError, CrmError, CrmNotFound, CrmRejected, CrmUnavailable
from crm.hooks import RecordOrigin, record_origin_find
from crm.provider import CrmProvider
from crm.records import CanonicalObject, CanonicalRecord, Priority
from crm.registry import provider_for
from messaging.models import Message, OptOutSource, OptOutState
from messaging.selectors import crm_opt_out_field_get, phone_is_opted_out
from messaging.services.opt_out import opt_out_set
from messaging.services.sending import message_send, region_of
from messaging.services.threads import contact_get_or_create
from studios.models import TEMPLATE_FIELDS, Studio
from studios.selectors import membership_for_crm_user, phone_numbers_serving

logger = structlog.get_logger(__name__)

S = LeadIntake.Status
LEAD = CanonicalObject.LEAD
# `leadId`/`lead_id` (a CRM flow's callout body, a workflow rule's), or a bare `"Id"` (one CRM's record field).
LEAD_ID = re.compile(r'(?:"?lead_?id"?|"id")\s*[:=]\s*"?([A-Za-z0-9_-]{5,64})', re.IGNORECASE)
ID_KEYS = ("lead_id", "leadId", "id", "Id", "recordId")


def _lead_id(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if text and re.fullmatch(r"[A-Za-z0-9_-]{5,64}", text) else None


def lead_id_from_payload(payload: dict[str, Any]) -> str | None:
    """The lead id from a workflow webhook: JSON body, form field or query parameter (or, from a CRM's app event,
    the payload's own `lead_id`). Some CRMs paste merge values into raw JSON unescaped, so a lead whose name holds a
    quote breaks the JSON; the id is still found."""
    named = str(payload.get("lead_id") or "").strip()  # read from a verified event, not typed: any id length
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", named):
        return named
    for source in (payload.get("query") or {}, payload.get("form") or {}):
        for key in ID_KEYS:
            if found := _lead_id(source.get(key)):
                return found
    raw = payload.get("body") or ""
    try:
        body = json.loads(raw)
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict):
        for key in ID_KEYS:
            if found := _lead_id(body.get(key)):
                return found
    match = LEAD_ID.search(raw)
    return match.group(1) if match else None


def lead_event_process(event: InboundEvent) -> None:
    """Turn a recorded new-lead webhook into an intake (once per lead and connection) and start it after commit.
    Registered for every CRM kind's source, `<kind>.lead` (automation/apps.py), so events recorded before a
    deploy are processed after it."""
    kind = event.source.removesuffix(".lead")
    lead_id = lead_id_from_payload(event.payload)
    if lead_id is None:
        raise EventFlagged("The webhook names no lead id; check the workflow rule's body (it needs the lead's id)")
    organization = event.organization
    connection_id = event.payload.get("connection_id")
    if connection_id is not None:
        # An app event routed to its account's connection: that one, and only if it is this organization's.
        connection = lead_connection_get(organization=organization, kind=kind, connection_id=_number(connection_id))
        if connection is None:
            raise EventFlagged(f"The CRM connection {connection_id} is not one of the organization's {kind} ones")
    else:
        connection = lead_connection_get(organization=organization, kind=kind)
    if connection is None:
        raise EventFlagged(
            f"The organization has no {kind} CRM connection (or several and no default): connect one, then retry"
        )
    try:
        with transaction.atomic():
            intake = LeadIntake.unscoped_objects.create(
                organization=organization, connection=connection, crm_record_id=lead_id
            )
            step_record(
                organization=organization, lead_intake=intake, step="webhook_received", detail=f"lead {lead_id}"
            )
    except IntegrityError:
        intake = LeadIntake.objects.for_organization(organization).get(connection=connection, crm_record_id=lead_id)
        if _waiting_for_the_call(intake):
            step_record(
                organization=organization,
                lead_intake=intake,
                step="webhook_received",
                detail=f"lead {lead_id}: the CRM's call came after the mirror found the lead; starting now",
            )
            LeadIntake.objects.unscoped().filter(pk=intake.pk).update(next_attempt_at=timezone.now())
            transaction.on_commit(partial(lead_intake_enqueue, intake.pk))
            return
        step_record(
            organization=organization,
            lead_intake=intake,
            step="webhook_received",
            outcome="skipped",
            detail="the same lead again: nothing new is created",
        )
        return
    transaction.on_commit(partial(lead_intake_enqueue, intake.pk))


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0  # no connection has it: refused


def _waiting_for_the_call(intake: LeadIntake) -> bool:
    """An intake the mirror created that has not started yet: it waits for exactly this call."""
    return intake.source == LeadIntake.Source.MIRROR and intake.status == S.WAITING and intake.attempts == 0


def lead_intake_enqueue(intake_id: int, countdown: float | None = None) -> None:
    """Publish the intake's task (a first run, the sweep, "try again"; retries are the task's own)."""
    from automation.tasks import lead_intake_process_task

    try:
        lead_intake_process_task.apply_async((intake_id,), countdown=countdown)
    except Exception:
        logger.exception("lead_intake_enqueue_failed", intake_id=intake_id)  # the due sweep picks it up


class _Wait(Exception):
    """The CRM cannot answer now: try again later (not before `retry_after` seconds when the CRM said)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _wait_for(exc: CrmUnavailable, what: str) -> _Wait:
    return _Wait(f"the CRM is unavailable {what} ({crm_error_text(exc)})", retry_after=exc.retry_after)


def lead_intake_process(*, intake_id: int) -> Progress:
    """Advance an intake as far as it can go; safe to run twice (a lease, and every step checks what is done).
    Returns the outcome and, when the CRM made it wait, the seconds until the next try (next_attempt_at is saved:
    the due sweep tries it then if the task's retry is lost)."""
    if not lease_take(LeadIntake, pk=intake_id, statuses=(S.RECEIVED, S.WAITING)):
        return Progress("skipped")
    intake = LeadIntake.objects.unscoped().select_related("organization", "studio", "connection").get(pk=intake_id)
    log = partial(step_record, organization=intake.organization, lead_intake=intake)
    intake.attempts += 1
    if intake.attempts == 1 and intake.source == LeadIntake.Source.MIRROR:
        if not intake.steps.filter(step="webhook_received").exists():
            log(step="webhook_missing", outcome="skipped", detail=_call_missing(intake))
    retry_in = None
    try:
        outcome = _advance(intake, log)
    except _SameLead as exc:
        return _same_lead(intake, str(exc))
    except _Wait as exc:
        outcome, retry_in = _wait(intake, log, str(exc), exc.retry_after)
    except Exception as exc:
        # An unexpected failure is treated as passing: retried on the schedule, then handed to a person.
        logger.exception("lead_intake_failed", intake_id=intake.pk)
        outcome, retry_in = _wait(intake, log, f"unexpected error {exc.__class__.__name__}: {exc}", None)
    intake.lease_until = None
    intake.save()
    return Progress(outcome, retry_in)


def _call_missing(intake: LeadIntake) -> str:
    return f"{CALL_MISSING} (lead {intake.crm_record_id}); check the CRM's new-lead workflow or Flow"


class _SameLead(Exception):
    """The CRM spells the intake's lead id another way (one CRM's 15/18-character ids), and another intake already
    holds the lead under that spelling: this one goes, so one lead has one intake, one task and one text."""


def _record_id_adopt(intake: LeadIntake, record_id: str) -> None:
    """Key the intake by the id as the CRM returns it (what the mirror and later calls use), unless another intake
    has it (_SameLead)."""
    try:
        with transaction.atomic():
            LeadIntake.objects.unscoped().filter(pk=intake.pk).update(crm_record_id=record_id)
    except IntegrityError:
        raise _SameLead(record_id) from None
    intake.crm_record_id = record_id


def _same_lead(intake: LeadIntake, record_id: str) -> Progress:
    """Drop the intake that spelled the id another way; the other one is told (and started, if it was waiting for
    exactly this call)."""
    other = LeadIntake.objects.unscoped().get(
        organization=intake.organization, connection=intake.connection, crm_record_id=record_id
    )
    LeadIntake.objects.unscoped().filter(pk=intake.pk).delete()
    log = partial(step_record, organization=intake.organization, lead_intake=other, step="webhook_received")
    if not _waiting_for_the_call(other):
        log(outcome="skipped", detail=f"the same lead again, as {intake.crm_record_id}: nothing new is created")
        return Progress("duplicate")
    log(detail=f"lead {intake.crm_record_id}: the CRM's call came after the mirror found the lead; starting now")
    LeadIntake.objects.unscoped().filter(pk=other.pk).update(next_attempt_at=timezone.now())
    transaction.on_commit(partial(lead_intake_enqueue, other.pk))
    return Progress("duplicate")


def _wait(intake: LeadIntake, log, reason: str, said: float | None) -> tuple[str, float | None]:
    delay = retry_delay(intake.attempts)
    if delay is None:
        return _attention(intake, log, f"Gave up waiting for the CRM after {intake.attempts} tries: {reason}"), None
    delay = max(delay, said or 0)
    log(step="waiting", outcome="retry", detail=f"{reason}; next try in {delay:.0f} s")
    intake.status, intake.next_attempt_at = S.WAITING, timezone.now() + timedelta(seconds=delay)
    return "waiting", delay


def _attention(intake: LeadIntake, log, reason: str) -> str:
    log(step="needs_attention", outcome="failed", detail=reason)
    intake.status, intake.attention_reason, intake.next_attempt_at = S.NEEDS_ATTENTION, reason[:300], None
    return "needs_attention"


def _reconnect(intake: LeadIntake, exc: CrmError) -> str:
    return f"The CRM connection {intake.connection.name} must be connected again by a manager: {exc}"


def _advance(intake: LeadIntake, log) -> str:
    organization = intake.organization
    settings_row = automation_settings_get(organization=organization)
    if not settings_row.is_enabled:
        log(step="automation_off", outcome="skipped", detail="lead automation is switched off for the organization")
        intake.status, intake.completed_at = S.DONE, timezone.now()
        return "done"
    try:
        provider = provider_for(intake.connection, priority=Priority.BACKGROUND)
        record = provider.record(object=LEAD, record_id=intake.crm_record_id)
    except CrmAuthError as exc:
        return _attention(intake, log, _reconnect(intake, exc))
    except CrmNotFound as exc:
        raise _Wait(f"lead {intake.crm_record_id} is not visible in the CRM yet") from exc
    except CrmUnavailable as exc:
        raise _wait_for(exc, "to load the lead") from exc
    except CrmError as exc:  # CrmRejected, or no provider serves the connection any more
        return _attention(intake, log, f"The CRM refused to load the lead: {exc}")
    if record.id and record.id != intake.crm_record_id:
        _record_id_adopt(intake, record.id)
    if not intake.crm_task_id and (why := provider.not_a_lead_reason(record=record)):
        # The CRM's lead object holds more than leads (contacts by lifecycle stage, say): nothing to do.
        intake.lead_name = lead_full_name(record)[:200]
        log(step="not_a_lead", outcome="skipped", detail=f"not a lead: {why}; no task and no text")
        intake.status, intake.completed_at, intake.next_attempt_at = S.DONE, timezone.now(), None
        return "done"
    if not intake.crm_task_id and (origin := _lead_copied_from(intake, record)) is not None:
        # Two-way sync made this lead from a lead of the organization's other CRM, which had its own intake: a second
        # task and a second welcome text would greet one person twice.
        intake.lead_name = lead_full_name(record)[:200]
        log(
            step="lead_copy",
            outcome="skipped",
            detail=f"a copy of lead {origin.record_id} in {origin.connection.name}, made by {origin.made_by}: "
            "that lead's own intake sends the task and the text",
        )
        intake.status, intake.completed_at, intake.next_attempt_at = S.DONE, timezone.now(), None
        return "done"
    owner_id, owner_name = record.owner_id, record.owner_name
    intake.lead_name = lead_full_name(record)[:200]
    intake.crm_owner_id, intake.owner_name = owner_id, owner_name[:200]
    if intake.attempts == 1 or not intake.steps.filter(step="lead_loaded").exists():
        log(step="lead_loaded", detail=f"{intake.lead_name or 'a lead'} owned by {owner_name or 'nobody'}")

    problems: list[str] = []
    if intake.studio_id is None:
        studio, why = _studio_resolve(
            intake=intake, provider=provider, record=record, lead_studio_field=settings_row.lead_studio_field
        )
        if studio is None:
            log(step="studio_resolved", outcome="failed", detail=why)
            problems.append(why)
        else:
            intake.studio = studio
            log(step="studio_resolved", detail=why, studio=studio)

    if not intake.crm_task_id:
        try:
            intake.crm_task_id = _task_create(provider, intake=intake)
        except CrmAuthError as exc:
            return _attention(intake, log, _reconnect(intake, exc))
        except CrmRejected as exc:
            log(step="task_created", outcome="failed", detail=str(exc))
            problems.append(f"The CRM refused the follow-up task: {exc}")
        except CrmUnavailable as exc:
            intake.save()  # keep what is known; the task is tried again
            raise _wait_for(exc, "for the task") from exc
        else:
            # Saved at once: a crash after this line must not create the task a second time.
            LeadIntake.objects.unscoped().filter(pk=intake.pk).update(crm_task_id=intake.crm_task_id)
            log(step="task_created", detail=f"task {intake.crm_task_id} for {owner_name or 'the connection owner'}")

    if intake.welcome_message_id is None and not intake.sms_outcome:
        blocked = _welcome_send(
            intake=intake,
            provider=provider,
            record=record,
            log=log,
            crm_opt_out_field=crm_opt_out_field_get(organization=organization),
        )
        if blocked:
            problems.append(blocked)

    if problems:
        return _attention(intake, log, "; ".join(problems))
    intake.status, intake.completed_at, intake.next_attempt_at = S.DONE, timezone.now(), None
    log(step="done")
    return "done"


def _lead_copied_from(intake: LeadIntake, record: CanonicalRecord) -> RecordOrigin | None:
    """The lead this one copies when Leadline made it from another CRM's lead (crm.hooks: two-way sync answers)."""
    origin = record_origin_find(
        organization=intake.organization, connection=intake.connection, object=LEAD, record=record
    )
    return origin if origin is not None and origin.object == LEAD else None


def _studio_resolve(
    *, intake: LeadIntake, provider: CrmProvider, record: CanonicalRecord, lead_studio_field: str
) -> tuple[Studio | None, str]:
    organization = intake.organization
    if lead_studio_field:
        named = field_value(provider, record, lead_studio_field)
        studio = studio_by_name(organization=organization, value=str(named or ""))
        if studio is not None:
            return studio, f"the lead's {lead_studio_field} names {studio.name}"
    owner = membership_for_crm_user(connection=intake.connection, crm_user_id=intake.crm_owner_id)
    if owner is None:
        return None, (
            f"No studio: the lead's owner ({intake.owner_name or intake.crm_owner_id or 'none'}) is not a member "
            "with a CRM user id" + (f", and {lead_studio_field} names no studio" if lead_studio_field else "")
        )
    studios = [s for s in owner.studios.all() if s.is_active]
    if len(studios) == 1:
        return studios[0], f"the lead's owner {intake.owner_name} works at {studios[0].name}"
    if not studios:
        return None, f"No studio: the owner {intake.owner_name} is a manager or works in no active studio"
    names = ", ".join(s.name for s in studios)
    return None, f"No studio: the owner {intake.owner_name} works in several studios ({names}); assign one"


def _task_create(provider: CrmProvider, *, intake: LeadIntake) -> str:
    studio = intake.studio
    days = studio_automation_get(studio=studio).task_due_days if studio else 1
    time_zone = studio.time_zone if studio else "UTC"
    name = intake.lead_name or "new lead"
    return provider.create_task(
        object=LEAD,
        record_id=intake.crm_record_id,
        owner_id=intake.crm_owner_id,
        subject=f"Follow up with {name}",
        due_date=due_date_for(time_zone=time_zone, days=days),
        description=f"New lead{f' for {studio.name}' if studio else ''}. Created by Leadline.",
    )


def _welcome_send(
    *, intake: LeadIntake, provider: CrmProvider, record: CanonicalRecord, log, crm_opt_out_field: str
) -> str | None:
    """Send the welcome text, or log why not. Returns the reason when a person must act (a required merge field is
    blank): no outcome is saved then, so "Try again now" sends it once the lead or the template is fixed."""
    studio = intake.studio
    organization = intake.organization

    def skip(reason: str) -> None:
        intake.sms_outcome = reason[:300]
        log(step="sms_skipped", outcome="skipped", detail=reason, studio=studio)

    if studio is None:
        return skip("no welcome text: no studio to send it from")
    if not studio_automation_get(studio=studio).send_welcome:
        return skip(f"no welcome text: {studio.name} sends none")
    numbers = list(phone_numbers_serving(studio=studio))
    phone, why = lead_mobile(record, default_region=region_of(numbers[0].number) if numbers else "US")
    if phone is None:
        return skip(f"no welcome text: {why}")
    intake.lead_phone = phone
    contact = contact_get_or_create(organization=organization, phone=phone, name=intake.lead_name)
    contact.connection, contact.crm_object = intake.connection, LEAD
    contact.crm_record_id, contact.crm_owner_id = intake.crm_record_id, intake.crm_owner_id
    contact.save(update_fields=["connection", "crm_object", "crm_record_id", "crm_owner_id", "updated_at"])
    if crm_opt_out_field and field_value(provider, record, crm_opt_out_field) is True:
        opt_out_set(
            organization=organization,
            phone=phone,
            state=OptOutState.OPTED_OUT,
            source=OptOutSource.CRM,
            reason=f"{crm_opt_out_field} is set on the lead in the CRM",
        )
    if phone_is_opted_out(organization=organization, phone=phone):
        return skip(f"no welcome text: {phone} has opted out")
    context = merge_context(record=record, studio_name=studio.name, owner_name=intake.owner_name)
    try:
        rendered = merge_fields.render(studio.welcome_message, context, allowed=TEMPLATE_FIELDS)
    except merge_fields.TemplateError as exc:
        reason = f"welcome text not sent: the template of {studio.name} is not valid ({exc})"
        log(step="sms_skipped", outcome="failed", detail=reason, studio=studio)
        return reason
    if rendered.missing:
        reason = f"welcome text not sent: {rendered.reason}"
        log(step="sms_skipped", outcome="failed", detail=reason, studio=studio)
        return reason
    try:
        message = message_send(
            studio=studio,
            to=phone,
            body=rendered.text,
            kind=Message.Kind.AUTOMATED,
            contact_name=intake.lead_name,
        )
    except ApplicationError as exc:
        return skip(f"no welcome text: {exc.message}")
    intake.welcome_message = message
    log(step="sms_sent", detail=f"welcome text queued from {message.from_number}", studio=studio)
    return None
