"""Texts on the CRM timeline: each pending CrmTimelineEntry (queued by messaging when a text is received, or once it
was sent) is logged on its contact's lead or contact record as a completed activity, through the connection's CRM
provider, in batches of the provider's `max_activities_per_call`, at background priority.

Which record: the contact's linked record; else the mirror's record for the phone (messaging's crm_record_finder,
no CRM call); else a phone search in the CRM (remembered for the flush). A phone no record has is skipped.

What the CRM answers decides each row: a logged activity is done (its id kept); a refusal of one activity (a
deleted record, a value the CRM refuses) fails that row with the CRM's message, and the batch's others still land;
a CRM that is down, throttling or out of allowance leaves the rows pending until it says to come back (or a backoff);
a connection the CRM refused pauses its rows until a person connects it again (tried again every AUTH_PAUSE). The
persisted queue is the schedule: a flush claims rows for a lease, so two flushes never log one text twice."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import merge_fields
from crm.connections import crm_connection_get
from crm.errors import CrmAuthError, CrmError, CrmQuotaExhausted, CrmRejected
from crm.provider import CrmProvider
from crm.records import Activity, ActivityLogged, CanonicalObject, Capability, Priority
from crm.registry import provider_for
from messaging.hooks import crm_record_find
from messaging.models import CRM_TIMELINE_SUBJECT_FIELDS, CrmTimelineEntry, Message, MessagingSettings
from messaging.selectors import messaging_settings_get
from studios.models import ProviderAccount
from studios.selectors import crm_user_id_of

logger = structlog.get_logger(__name__)

OBJECTS = (CanonicalObject.LEAD, CanonicalObject.CONTACT)
LEASE = timedelta(minutes=10)  # a flush's claim on its rows (longer than the task's hard time limit)
AUTH_PAUSE = timedelta(minutes=30)  # a connection the CRM refused: its rows wait for a person to reconnect it
QUOTA_WAIT = timedelta(hours=1)  # the allowance is used up and the CRM did not say until when
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
MAX_ATTEMPTS = 20  # a CRM unavailable this many flushes in a row (about two days of backoff): the row fails
DEFAULT_SUBJECTS = {Message.Direction.OUTBOUND: "SMS to {phone}", Message.Direction.INBOUND: "SMS from {phone}"}
SENDERS = {Message.Kind.AUTOMATED: "Leadline automation", Message.Kind.KEYWORD_REPLY: "Leadline (keyword answer)"}
Status = CrmTimelineEntry.Status


@dataclass
class FlushResult:
    logged: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0  # left pending: the CRM was unavailable, out of allowance, or refused the connection
    errors: list[str] = field(default_factory=list)

    @property
    def settled(self) -> int:
        return self.logged + self.failed + self.skipped


@dataclass
class _Target:
    entry: CrmTimelineEntry
    connection: ProviderAccount | None
    object: str = ""
    record_id: str = ""


def crm_timeline_flush(*, limit: int = 1000, now: datetime | None = None) -> FlushResult:
    """Log due pending rows, oldest first, at most `limit` of them."""
    now = now or timezone.now()
    result = FlushResult()
    entries = _claim(limit=limit, now=now)
    if not entries:
        return result
    settings_of: dict[int, MessagingSettings] = {}
    default_of: dict[int, ProviderAccount | None] = {}
    by_connection: dict[int | None, list[_Target]] = defaultdict(list)
    for entry in entries:
        organization = entry.organization
        if organization.pk not in settings_of:
            settings_of[organization.pk] = messaging_settings_get(organization=organization)
            default_of[organization.pk] = crm_connection_get(organization=organization)
        if not settings_of[organization.pk].crm_timeline_enabled:  # turned off after the text was queued
            _settle(result, [entry], Status.SKIPPED, "the organization turned the CRM timeline off", now)
            continue
        target = _target_known(entry, default=default_of[organization.pk])
        by_connection[target.connection.pk if target.connection else None].append(target)
    for targets in by_connection.values():
        connection = targets[0].connection
        if connection is None:
            _settle(result, [t.entry for t in targets], Status.SKIPPED, "the organization has no CRM connection", now)
            continue
        # A connection is one organization's: a row of another (a link that should never exist) is not logged there.
        foreign = [t.entry for t in targets if t.entry.organization_id != connection.organization_id]
        if foreign:
            _settle(result, foreign, Status.SKIPPED, "the linked CRM connection is another organization's", now)
            targets = [t for t in targets if t.entry.organization_id == connection.organization_id]
        if not targets:
            continue
        try:
            _flush_connection(connection, targets, settings_of, result, now)
        except Exception as exc:  # a provider's bug must not stop the other connections' texts, nor loop forever
            logger.exception("crm_timeline_connection_failed", connection_id=connection.pk)
            failure = CrmError(f"unexpected error ({type(exc).__name__}): {exc}")
            _wait(result, [target.entry for target in targets], connection, failure, now)
    logger.info(
        "crm_timeline_flushed",
        logged=result.logged,
        failed=result.failed,
        skipped=result.skipped,
        waiting=result.waiting,
    )
    return result


def _claim(*, limit: int, now: datetime) -> list[CrmTimelineEntry]:
    """Take due pending rows for a lease (no other flush takes them meanwhile; a crashed flush's come back)."""
    with transaction.atomic():
        ids = list(
            CrmTimelineEntry.objects.unscoped()
            .select_for_update(skip_locked=True)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=Status.PENDING)
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        CrmTimelineEntry.objects.unscoped().filter(pk__in=ids).update(next_attempt_at=now + LEASE)
    return list(
        CrmTimelineEntry.objects.unscoped()
        .select_related(
            "organization",
            "connection",
            "message__contact__connection",
            "message__studio",
            "message__sent_by__user",
        )
        .filter(pk__in=ids)
        .order_by("created_at", "pk")
    )


def _target_known(entry: CrmTimelineEntry, *, default: ProviderAccount | None) -> _Target:
    """The record the text goes on when it is known without asking the CRM: the contact's link, else the mirror's
    record for the phone; else only the connection (the CRM is searched by phone). `default`: the organization's
    CRM connection."""
    contact = entry.message.contact
    if contact.crm_object in OBJECTS and contact.crm_record_id:
        return _Target(entry, contact.connection or default, contact.crm_object, contact.crm_record_id)
    found = crm_record_find(organization=entry.organization, phone=contact.phone)
    if found is not None and found.object in OBJECTS:
        return _Target(entry, found.connection or default, found.object, found.record_id)
    return _Target(entry, entry.connection or default)


def _flush_connection(
    connection: ProviderAccount,
    targets: list[_Target],
    settings_of: dict[int, MessagingSettings],
    result: FlushResult,
    now: datetime,
) -> None:
    entries = [target.entry for target in targets]
    try:
        provider = provider_for(connection, priority=Priority.BACKGROUND)
    except CrmError as exc:  # no provider serves the connection's kind any more
        _settle(result, entries, Status.SKIPPED, f"no CRM provider serves {connection.name}: {exc}", now)
        return
    if not provider.supports(Capability.ACTIVITY_LOGGING):
        _settle(result, entries, Status.SKIPPED, f"{provider.label or provider.kind} logs no activities", now)
        return
    ready: list[tuple[_Target, Activity]] = []
    searched: dict[str, tuple[str, str] | None] = {}
    for position, target in enumerate(targets):
        if not target.record_id:
            phone = target.entry.message.contact.phone
            try:
                if phone not in searched:
                    searched[phone] = _search(provider, phone)
            except CrmError as exc:
                _wait(result, [t.entry for t in targets[position:]] + [t.entry for t, _ in ready], connection, exc, now)
                return
            if searched[phone] is None:
                _settle(result, [target.entry], Status.SKIPPED, f"no lead or contact in the CRM has {phone}", now)
                continue
            target.object, target.record_id = searched[phone]
        settings = settings_of[target.entry.organization_id]
        ready.append((target, _activity(target, settings, connection)))
    size = max(1, int(provider.max_activities_per_call or 1))
    for start in range(0, len(ready), size):
        batch = ready[start : start + size]
        try:
            logged = provider.log_activities(activities=[activity for _, activity in batch])
        except CrmRejected as exc:  # the CRM refused the request as a whole (e.g. an activity type it lacks)
            _settle(result, [t.entry for t, _ in batch], Status.FAILED, f"the CRM refused the activities: {exc}", now)
            continue
        except CrmError as exc:
            _wait(result, [t.entry for t, _ in ready[start:]], connection, exc, now)
            return
        _record(result, batch, logged, connection, now)


def _search(provider: CrmProvider, phone: str) -> tuple[str, str] | None:
    """The CRM's lead (else contact) with this phone; None when none has it."""
    for object in OBJECTS:
        try:
            records = provider.records_by_phone(object=object, phone=phone)
        except ValueError:  # not a number in E.164 (a short code): no record can have it
            return None
        if records:
            newest = max(records, key=lambda record: record.modified_time)
            return str(object), newest.id
    return None


def _activity(target: _Target, settings: MessagingSettings, connection: ProviderAccount) -> Activity:
    message = target.entry.message
    outbound = message.direction == Message.Direction.OUTBOUND
    contact = message.contact
    our_number = message.from_number if outbound else message.to_number
    template = settings.crm_timeline_subject_sent if outbound else settings.crm_timeline_subject_received
    context = {
        "phone": contact.phone,
        "contact_name": contact.name,
        "studio_name": message.studio.name if message.studio else "",
        "our_number": our_number,
    }
    subject = _subject(template, context, default=DEFAULT_SUBJECTS[message.direction])
    moment = message.occurred_at or message.created_at
    if outbound:
        sender = message.sent_by.user.full_name if message.sent_by else SENDERS.get(message.kind, "Leadline")
        line = f"Sent from {message.from_number} to {message.to_number} by {sender}"
    else:
        line = f"Received on {message.to_number} from {message.from_number}"
    if message.studio:
        line += f" ({message.studio.name})"
    owner = crm_user_id_of(membership=message.sent_by, connection=connection) if outbound and message.sent_by else ""
    return Activity(
        key=f"{message.organization_id}-{message.pk}",
        object=target.object,
        record_id=target.record_id,
        subject=subject[:255],
        description=f"{message.body}\n\n{line} at {moment:%Y-%m-%d %H:%M} UTC.",
        occurred_at=moment,
        owner_id=owner,
        activity_type=settings.crm_timeline_activity_type,
    )


def _subject(template: str, context: dict[str, str], *, default: str) -> str:
    """The organization's subject; the default one when it cannot be filled (a blank field with no fallback)."""
    try:
        rendered = merge_fields.render(template, context, allowed=CRM_TIMELINE_SUBJECT_FIELDS)
    except merge_fields.TemplateError:
        rendered = None
    if rendered is None or rendered.missing or not rendered.text.strip():
        return merge_fields.render(default, context, allowed=CRM_TIMELINE_SUBJECT_FIELDS).text
    return rendered.text.strip()


def _record(
    result: FlushResult,
    batch: list[tuple[_Target, Activity]],
    logged: list[ActivityLogged],
    connection: ProviderAccount,
    now: datetime,
) -> None:
    outcome = {item.key: item for item in logged}
    for target, activity in batch:
        entry = target.entry
        item = outcome.get(activity.key)
        where = {"connection": connection, "crm_object": target.object, "crm_record_id": target.record_id}
        if item is None:
            _settle(result, [entry], Status.FAILED, "the CRM gave no answer for this activity", now, **where)
        elif item.ok:
            _settle(result, [entry], Status.DONE, "", now, crm_activity_id=str(item.activity_id)[:64], **where)
        else:
            _settle(result, [entry], Status.FAILED, f"the CRM refused the activity: {item.error}", now, **where)


def _settle(
    result: FlushResult, entries: list[CrmTimelineEntry], status: str, error: str, now: datetime, **values
) -> None:
    settled = 0
    for entry in entries:
        settled += (
            CrmTimelineEntry.objects.unscoped()
            .filter(pk=entry.pk, status=Status.PENDING)
            .update(
                status=status,
                last_error=error[:2000],
                attempts=entry.attempts + 1,
                next_attempt_at=None,
                updated_at=now,
                **values,
            )
        )
    counter = {Status.DONE: "logged", Status.FAILED: "failed", Status.SKIPPED: "skipped"}[status]
    setattr(result, counter, getattr(result, counter) + settled)
    if error and status == Status.FAILED:
        result.errors.append(error)


def _wait(
    result: FlushResult, entries: list[CrmTimelineEntry], connection: ProviderAccount, exc: CrmError, now: datetime
) -> None:
    """Leave the rows pending until the CRM can take them: a refused connection pauses them, an exhausted allowance
    waits for it (attempts not counted), an unavailable CRM backs off and, after MAX_ATTEMPTS, fails them."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, CrmAuthError):
        wait, counts = AUTH_PAUSE, False
        error = f"the CRM connection must be connected again: {exc}"
    elif isinstance(exc, CrmQuotaExhausted):
        wait, counts = (timedelta(seconds=retry_after) if retry_after else QUOTA_WAIT), False
        error = f"the CRM's API allowance is used up: {exc}"
    else:
        counts = True
        error = f"the CRM was unavailable: {exc}"
        wait = None
    for entry in entries:
        attempts = entry.attempts + int(counts)
        if counts and attempts >= MAX_ATTEMPTS:
            _settle(result, [entry], Status.FAILED, f"{error} (after {attempts} tries)", now)
            continue
        delay = wait
        if delay is None:
            backoff = BACKOFF_BASE * 2 ** min(attempts, 12)
            delay = max(timedelta(seconds=retry_after or 0), min(backoff, BACKOFF_MAX))
        result.waiting += (
            CrmTimelineEntry.objects.unscoped()
            .filter(pk=entry.pk, status=Status.PENDING)
            .update(
                attempts=attempts,
                last_error=error[:2000],
                next_attempt_at=now + delay,
                connection=connection,
                updated_at=now,
            )
        )
    if isinstance(exc, CrmAuthError):  # the connection's other queued rows wait for the reconnection too
        CrmTimelineEntry.objects.unscoped().filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now + AUTH_PAUSE),
            status=Status.PENDING,
            connection=connection,
        ).exclude(pk__in=[entry.pk for entry in entries]).update(next_attempt_at=now + AUTH_PAUSE, updated_at=now)
    logger.warning("crm_timeline_waiting", connection_id=connection.pk, rows=len(entries), error=exc.__class__.__name__)
