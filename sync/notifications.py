"""Near-real-time mirror: one Zoho Notifications (watch) channel per organization, and the callbacks it brings.

    channel_ensure(organization=org)   # create, renew or re-enable the channel for every mirrored module
    channels_renew_due()               # the beat: every organization, every ~30 min
    channel_verify(organization=org)   # is the channel still listed at Zoho? if not, subscribe it again

A channel can be deleted on Zoho's side (an administrator, a user losing access) without a word to us; until its
renewal it would be believed live. So the beat also asks Zoho which channels are live (GET /crm/v8/actions/watch),
and a delta run that writes changes (which a live channel would have announced first) asks the same, at most once
per CHECK_EVERY per organization. A missing channel is subscribed again at once and said so (sync/operations docs).

Zoho posts the ids of changed records to `/webhooks/zoho/notifications/?key=<url secret>` (sync/webhooks.py); the
callback is recorded (core.webhooks) and a task on the `sync` queue fetches those ids with COQL and upserts them in
a `notification` run. Zoho signs nothing and promises nothing about delivery (assume at most once;
docs/vendors/zoho-crm.md, Notifications), so a notification is only a hint that makes the mirror fresher sooner; the
delta sync stays the safety net for anything lost. No Zoho call is made inside a database transaction.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from automation.selectors import crm_account_get
from core.models import InboundEvent
from core.secrets import Secret
from core.webhooks import EventFlagged, processor
from crm.providers.zoho.client import ZohoClient
from crm.providers.zoho.errors import ZohoError, ZohoRequestError
from crm.providers.zoho.limits import Priority
from studios.models import Organization
from sync.mapping import ModuleMapping, crm_record_map
from sync.models import NotificationChannel, SyncRun, SyncSchedule, channel_secret_digest
from sync.reads import IN_LIMIT, module_mapping_get, records_read_by_ids
from sync.runs import CountingClient, run_client
from sync.upsert import crm_records_mark_deleted, crm_records_upsert

logger = structlog.get_logger(__name__)

SOURCE = "zoho.notification"
WEBHOOK_PATH = "/webhooks/zoho/notifications/"
# Zoho caps a channel at one day (Kaizen #14) or one week (v7 page); 23 h is within both (docs/vendors/zoho-crm.md,
# Notifications).
CHANNEL_LIFETIME = timedelta(hours=23)
# Renewed (PATCH) once less than this is left: about twice a day, with half a lifetime to retry a failed renewal.
RENEW_WITHIN = timedelta(hours=12)
# A channel that lapsed less than this long ago still has its callbacks taken (Zoho may have some in flight).
LAPSED_GRACE = timedelta(hours=1)
# A module's field metadata costs a few calls; callbacks come in bursts, so it is kept this long per organization.
MAPPING_CACHE_SECONDS = 300
OPERATIONS = ("insert", "update", "delete")
# A delta run that wrote changes asks Zoho whether the channel is still there at most this often per organization.
CHECK_EVERY = timedelta(minutes=10)
CHECK_KEY = "sync:notifications:checked:{organization_id}"


# --- the channel ---------------------------------------------------------------------------------------------
def mirrored_modules(*, organization: Organization) -> list[str]:
    """SYNC_MODULES, plus modules a SyncSchedule row adds, minus those a row turns off (sync/schedules.py)."""
    modules = set(settings.SYNC_MODULES)
    for module, enabled in SyncSchedule.objects.for_organization(organization).values_list("module", "is_enabled"):
        if enabled:
            modules.add(module)
        else:
            modules.discard(module)
    return sorted(modules)


def notify_url(channel: NotificationChannel) -> str:
    return f"{settings.PUBLIC_BASE_URL}{WEBHOOK_PATH}?key={channel.url_secret.reveal()}"  # sent to Zoho only


def channel_for_url_secret(secret: str) -> NotificationChannel | None:
    """The channel a callback's URL secret names (any organization: the secret is what tells which), by digest."""
    if not secret or "\x00" in secret:
        return None
    digest = channel_secret_digest(secret)
    channel = NotificationChannel.objects.unscoped().select_related("organization").filter(url_secret_digest=digest)
    found = channel.first()
    if found is None or not hmac.compare_digest(digest, found.url_secret_digest or ""):
        return None
    return found


def channel_ensure(*, organization: Organization, now: datetime | None = None) -> NotificationChannel | None:
    """Make the organization's channel live at Zoho for every mirrored module: enable it the first time or after
    it lapsed or was refused, renew it (PATCH) when it expires within RENEW_WITHIN, else leave it. A Zoho error is
    kept in `last_error` (the channel stays as it was). An inactive organization or one without a connected CRM
    account gets its channel disabled instead (returns None)."""
    account = crm_account_get(organization=organization)
    if not organization.is_active or account is None or not account.refresh_token:
        channel_disable(organization=organization, reason="the organization is inactive or has no Zoho connection")
        return None
    now = now or timezone.now()
    channel = _channel_get_or_create(organization)
    events = [f"{module}.all" for module in mirrored_modules(organization=organization)]
    live = channel.is_active and channel.expires_at is not None and channel.expires_at > now
    if live and channel.events == events and channel.expires_at > now + RENEW_WITHIN:
        return channel
    client = ZohoClient(account=account, priority=Priority.BACKGROUND)
    try:
        entry = _subscribe(client, channel, events, live=live, expires_at=now + CHANNEL_LIFETIME)
    except ZohoError as exc:
        logger.warning("sync.notifications.subscribe_failed", channel=channel.pk, error=str(exc))
        where = f" {exc.details}" if exc.details else ""  # e.g. which event Zoho refused ($.watch[0].events[4])
        values: dict[str, Any] = {"last_error": f"{type(exc).__name__}: {exc}{where}"[:2000]}
        if not live:
            values["is_active"] = False
        _channel_update(channel, **values)
        return channel
    _channel_update(
        channel,
        is_active=True,
        events=events,
        expires_at=_answered_expiry(entry) or now + CHANNEL_LIFETIME,
        renewed_at=now,
        last_error="",
    )
    return channel


def channel_disable(*, organization: Organization, reason: str = "") -> NotificationChannel | None:
    """Unsubscribe at Zoho when the account can still call it, and stop taking the channel's callbacks. Without a
    connection (disconnected) the channel lapses at Zoho by itself within CHANNEL_LIFETIME."""
    channel = NotificationChannel.objects.for_organization(organization).first()
    if channel is None or (not channel.is_active and channel.expires_at is None):
        return channel
    account = crm_account_get(organization=organization)
    problem = ""
    if channel.is_active and account is not None and account.refresh_token:
        try:
            ZohoClient(account=account, priority=Priority.BACKGROUND).watch_disable(channel_ids=[channel.channel_id])
        except ZohoError as exc:
            problem = f"; Zoho did not unsubscribe it ({type(exc).__name__}: {exc})"
    _channel_update(channel, is_active=False, expires_at=None, last_error=f"disabled: {reason}{problem}"[:2000])
    return channel


def channels_renew_due(*, now: datetime | None = None) -> int:
    """The beat job: ensure (create, renew, re-enable) the channel of every active organization with a Zoho CRM
    account, and disable the others' channels. One organization's failure does not stop the rest. Returns how
    many channels are live afterwards."""
    now = now or timezone.now()
    live = 0
    for organization in Organization.objects.unscoped().order_by("pk"):  # every tenant: this is the beat
        try:
            channel = channel_ensure(organization=organization, now=now)
            if channel is not None and channel.is_active and channel.renewed_at != now:  # not just (re)subscribed
                channel_verify(organization=organization, reason="the periodic check", now=now)
                channel.refresh_from_db()
        except Exception:
            logger.exception("sync.notifications.renew_failed", organization=organization.pk)
            continue
        live += bool(channel and channel.is_active)
    return live


def channel_verify(*, organization: Organization, reason: str, now: datetime | None = None) -> bool | None:
    """Ask Zoho whether the organization's live channel is still listed with all its modules; if it is not, subscribe
    it again at once, log `sync.notifications.channel_lost` and note it on the channel. Returns True when it was
    lost, False when it is there, None when there is nothing live to check. Zoho errors propagate."""
    now = now or timezone.now()
    channel = NotificationChannel.objects.for_organization(organization).first()
    account = crm_account_get(organization=organization)
    if channel is None or not channel.is_active or channel.expires_at is None or channel.expires_at <= now:
        return None
    if account is None or not account.refresh_token:
        return None
    client = ZohoClient(account=account, priority=Priority.BACKGROUND)
    listed = {
        str(entry.get("resource_name") or "")
        for entry in client.watch_list()
        if str(entry.get("channel_id")) == str(channel.channel_id)
    }
    wanted = {event.split(".", 1)[0] for event in channel.events}
    if listed and wanted <= listed:
        return False
    missing = "the channel" if not listed else f"modules {', '.join(sorted(wanted - listed))} of the channel"
    logger.warning(
        "sync.notifications.channel_lost",
        organization=organization.pk,
        channel=channel.pk,
        found_by=reason,
        missing=missing,
    )
    if listed:  # partly there: cleared, so that the subscription below is whole
        try:
            client.watch_disable(channel_ids=[channel.channel_id])
        except ZohoRequestError:
            pass
    _channel_update(channel, is_active=False)
    channel = channel_ensure(organization=organization, now=now)
    if channel is None:
        return True
    if channel.is_active:
        note = f"re-subscribed {now:%Y-%m-%d %H:%M} UTC: Zoho no longer listed {missing} (found by {reason})"
    else:
        note = f"lost at Zoho (found by {reason}); re-subscribing failed: {channel.last_error}"
    _channel_update(channel, last_error=note[:2000])
    return True


def channel_check_after_run(*, run: SyncRun) -> str:
    """After a delta run that wrote changes: if the organization's channel covers the module and was not checked
    within CHECK_EVERY, verify it (a live channel would have announced these changes first). Returns a note for
    the run ("" when there is nothing to say). Never raises: the run's own outcome stands."""
    if run.kind != SyncRun.Kind.DELTA or not (run.inserted or run.updated):
        return ""
    organization = run.organization
    channel = NotificationChannel.objects.for_organization(organization).first()
    if channel is None or not channel.is_active or f"{run.module}.all" not in channel.events:
        return ""
    if not cache.add(CHECK_KEY.format(organization_id=organization.pk), "1", timeout=CHECK_EVERY.total_seconds()):
        return ""
    changes = run.inserted + run.updated
    try:
        lost = channel_verify(organization=organization, reason=f"delta run {run.pk}: {changes} unannounced changes")
    except Exception:
        logger.exception("sync.notifications.check_failed", run_id=run.pk)
        return ""
    if not lost:
        return ""
    channel.refresh_from_db()
    return f"the notification channel was gone at Zoho: {channel.last_error}"


def channel_accepts_callbacks(channel: NotificationChannel, *, now: datetime) -> bool:
    """Live, or lapsed moments ago (callbacks sent just before the expiry can arrive after it); a disabled
    channel has no expiry."""
    return channel.expires_at is not None and channel.expires_at > now - LAPSED_GRACE


def _channel_get_or_create(organization: Organization) -> NotificationChannel:
    scoped = NotificationChannel.objects.for_organization(organization)
    channel = scoped.first()
    if channel is not None:
        return channel
    try:
        url_secret = secrets.token_urlsafe(32)
        with transaction.atomic():
            return scoped.create(
                organization=organization,
                channel_id=secrets.randbelow(2**62) + 2**40,  # a positive long of our choice (A7)
                token=Secret(secrets.token_urlsafe(32)),  # 43 characters: Zoho allows 50
                url_secret=Secret(url_secret),
                url_secret_digest=channel_secret_digest(url_secret),
            )
    except IntegrityError:  # created at the same moment by a concurrent beat
        return scoped.get()


def _subscribe(
    client: ZohoClient, channel: NotificationChannel, events: list[str], *, live: bool, expires_at: datetime
) -> dict[str, Any]:
    item = {
        "channel_id": channel.channel_id,
        "events": events,
        "notify_url": notify_url(channel),
        "token": channel.token.reveal(),  # Zoho echoes it in every callback
        "expires_at": expires_at,
    }
    if live:
        if set(channel.events) <= set(events):
            try:
                return client.watch_renew(**item)
            except ZohoRequestError as exc:
                # NOT_SUBSCRIBED (lapsed early, or removed in Zoho) or refused: subscribed afresh below.
                logger.info("sync.notifications.renew_refused", channel=channel.pk, error=str(exc))
        else:
            # PATCH keeps modules it does not list; a module no longer mirrored goes with a fresh subscription.
            try:
                client.watch_disable(channel_ids=[channel.channel_id])
            except ZohoRequestError:
                pass  # already gone at Zoho
    return client.watch_enable(**item)


def _answered_expiry(entry: dict[str, Any]) -> datetime | None:
    """The earliest expiry Zoho answered: it shortens a value it finds too long (to one hour, Kaizen #14)."""
    moments = []
    for detail in (entry.get("details") or {}).get("events") or []:
        try:
            moments.append(datetime.fromisoformat(str(detail.get("channel_expiry"))))
        except ValueError:
            continue
    return min(moments, default=None)


def _channel_update(channel: NotificationChannel, **values: Any) -> None:
    NotificationChannel.objects.unscoped().filter(pk=channel.pk).update(**values)  # a row we already hold
    for name, value in values.items():
        setattr(channel, name, value)


# --- the callbacks -------------------------------------------------------------------------------------------
def notification_event_enqueue(event_id: int) -> None:
    """Start processing a recorded callback on the `sync` queue. A lost publish is left to the inbound-events
    sweep, which republishes the event after a minute."""
    from sync.tasks import notification_event_process_task

    try:
        notification_event_process_task.delay(event_id)
    except Exception:
        logger.exception("sync.notifications.enqueue_failed", event_id=event_id)


@processor(SOURCE)
def notification_event_process(event: InboundEvent) -> None:
    """Mirror what one callback names: fetch the ids (insert, update) or mark them deleted, in a notification run.

    No run lock: a delta run of the same module may be writing at the same moment, and that is safe, because
    every write is the guarded upsert (a row changes only for a newer Modified_Time, or the same one with other
    content), so whichever read is older loses. Taking the lock would make notifications wait behind (or skip
    during) a delta run of minutes, which defeats them. Nothing here touches SyncState: the watermark and the
    checkpoint belong to the delta run, so a notification can never make it skip a record."""
    organization = event.organization
    if organization is None or not organization.is_active:
        return
    payload = event.payload
    module = str(payload.get("module") or "")
    operation = str(payload.get("operation") or "")
    listed = payload.get("ids") if isinstance(payload.get("ids"), list) else []
    ids = list(dict.fromkeys(str(value) for value in listed if str(value).isdigit()))
    now = timezone.now()
    NotificationChannel.objects.for_organization(organization).update(last_notified_at=now)
    run = SyncRun.objects.create(
        organization=organization, module=module[:100], kind=SyncRun.Kind.NOTIFICATION, started_at=now
    )
    if module not in mirrored_modules(organization=organization):
        reason = f"module {module!r} is not mirrored for this organization"
        _run_finish(run, SyncRun.Status.FAILED, reason)
        raise EventFlagged(reason)
    if operation not in OPERATIONS or not ids:
        reason = f"nothing to do: operation {operation!r}, {len(ids)} record ids"
        _run_finish(run, SyncRun.Status.FAILED, reason)
        raise EventFlagged(reason)
    if operation == "delete":
        deleted_at = _server_time(payload) or now
        with transaction.atomic():
            marked = crm_records_mark_deleted(
                organization_id=organization.pk,
                module=module,
                deletions=dict.fromkeys(ids, deleted_at),
                run_id=run.pk,
                now=now,
            )
        SyncRun.objects.for_organization(organization).filter(pk=run.pk).update(deleted=marked)
        _run_finish(run, SyncRun.Status.OK)
        return
    client: CountingClient | None = None
    try:
        client = run_client(organization=organization)
        missing = _records_fetch(client, run, ids)
    except Exception as exc:
        logger.exception("sync.notifications.run_failed", run_id=run.pk, zoho_module=module)
        _run_finish(run, SyncRun.Status.FAILED, f"{type(exc).__name__}: {exc}", client)
        raise  # the event is retried; the delta sync catches up whatever is never fetched
    note = ""
    if missing:
        # Deleted (or merged) since Zoho notified: the deletions pass of the next delta run marks them.
        note = f"{len(missing)} of {len(ids)} ids not found in Zoho: {', '.join(missing[:20])}"
        logger.info("sync.notifications.ids_missing", run_id=run.pk, missing=missing[:20])
    _run_finish(run, SyncRun.Status.OK, note, client)


def _records_fetch(client: CountingClient, run: SyncRun, ids: list[str]) -> list[str]:
    """Read the ids with every mapped column (COQL `id in`, 100 at a time, wide modules in several queries merged
    as the delta run merges them) and upsert each batch; returns the ids Zoho no longer has."""
    mapping = _mapping(client, run.organization_id, run.module)
    missing: list[str] = []
    for start in range(0, len(ids), IN_LIMIT):
        chunk = ids[start : start + IN_LIMIT]  # digits only (checked on the way in)
        rows = records_read_by_ids(client=client, module=run.module, mapping=mapping, ids=chunk)
        found = {str(row.get("id")) for row in rows}
        missing += [record_id for record_id in chunk if record_id not in found]
        mapped = [
            crm_record_map(mapping=mapping, record=row, region=settings.SYNC_PHONE_DEFAULT_REGION) for row in rows
        ]
        with transaction.atomic():
            result = crm_records_upsert(
                organization_id=run.organization_id,
                module=run.module,
                records=mapped,
                run_id=run.pk,
                now=timezone.now(),
            )
            SyncRun.objects.unscoped().filter(pk=run.pk).update(  # the run row of the organization being written
                inserted=F("inserted") + result.inserted,
                updated=F("updated") + result.updated,
                quarantined=F("quarantined") + result.quarantined,
            )
    return missing


def _mapping(client: ZohoClient, organization_id: int, module: str) -> ModuleMapping:
    key = f"sync:notifications:mapping:{organization_id}:{module}"
    mapping = cache.get(key)
    if mapping is None:
        mapping = module_mapping_get(client=client, module=module)
        cache.set(key, mapping, timeout=MAPPING_CACHE_SECONDS)
    return mapping


def _server_time(payload: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(payload["server_time"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _run_finish(run: SyncRun, status: str, error: str = "", client: CountingClient | None = None) -> None:
    SyncRun.objects.unscoped().filter(pk=run.pk).update(  # the run this process created
        status=status, error=error[:2000], finished_at=timezone.now(), credits_used=getattr(client, "credits_used", 0)
    )
