"""Near-real-time mirror: one change-feed subscription (a `NotificationChannel`) per CRM connection, and the
callbacks it brings (processed by sync/change_events.py). Needs the provider's CHANGE_FEED capability.

    channel_ensure(organization=org)   # create, renew or re-enable the default connection's channel
    channels_renew_due()               # the beat: every connection, every ~30 min
    channel_verify(organization=org)   # is the subscription still there at the CRM? if not, subscribe it again

A subscription can be dropped on the CRM's side (an administrator, a user losing access) without a word to us;
until its renewal it would be believed live. So the beat also renews every live channel (a subscription the CRM
no longer has answers CrmNotFound), and a delta run that writes changes (which a live channel would have announced
first) does the same, at most once per CHECK_EVERY per organization. A lost subscription is made again at once and
said so on the channel.

The CRM posts to `/webhooks/crm/<kind>/notifications/?key=<url secret>` (sync/webhooks.py); the provider verifies
the callback (`parse_notification`), it is recorded (core.webhooks) and a task on the `sync` queue reads those
ids and upserts them in a `notification` run. Notifications are hints that make the mirror fresher sooner, never
promised to arrive (assume at most once); the delta sync stays the safety net for anything lost. No CRM call is
made inside a database transaction.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import structlog

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.secrets import Secret
from crm.connections import crm_connection_get, crm_connections
from crm.errors import CrmError, CrmNotFound
from crm.provider import CrmProvider
from crm.records import Capability, Subscription
from crm.registry import provider_class
from studios.models import Organization, ProviderAccount
from sync.models import NotificationChannel, SyncRun, SyncSchedule, channel_secret_digest
from sync.objects import configured_objects
from sync.runs import run_provider

logger = structlog.get_logger(__name__)

WEBHOOK_PATH = "/webhooks/crm/{kind}/notifications/"
# Within the shortest cap on a subscription's life of the CRMs served (one day; docs/vendors/).
CHANNEL_LIFETIME = timedelta(hours=23)
# Renewed once less than this is left: about twice a day, with half a lifetime to retry a failed renewal.
RENEW_WITHIN = timedelta(hours=12)
# A channel that lapsed less than this long ago still has its callbacks taken (the CRM may have some in flight).
LAPSED_GRACE = timedelta(hours=1)
# A delta run that wrote changes asks whether the channel is still there at most this often per organization.
CHECK_EVERY = timedelta(minutes=10)
CHECK_KEY = "sync:notifications:checked:{organization_id}"


# --- the channel ---------------------------------------------------------------------------------------------
def mirrored_objects(*, organization: Organization, connection: ProviderAccount | None = None) -> list[str]:
    """SYNC_MODULES, plus objects a SyncSchedule row adds, minus those a row turns off (sync/schedules.py)."""
    objects = set(configured_objects(connection=connection))
    rows = SyncSchedule.objects.for_organization(organization)
    if connection is not None:
        rows = rows.filter(connection=connection)
    for name, enabled in rows.values_list("object", "is_enabled"):
        if enabled:
            objects.add(name)
        else:
            objects.discard(name)
    return sorted(objects)


def notify_url(channel: NotificationChannel) -> str:
    kind = _kind(channel.connection)
    return f"{settings.PUBLIC_BASE_URL}{WEBHOOK_PATH.format(kind=kind)}?key={channel.url_secret.reveal()}"


def _kind(connection: ProviderAccount | None) -> str:
    return provider_class(str(connection.kind)).kind if connection is not None else ""


def channel_for_url_secret(secret: str) -> NotificationChannel | None:
    """The channel a callback's URL secret names (any organization: the secret is what tells which), by digest."""
    if not secret or "\x00" in secret:
        return None
    digest = channel_secret_digest(secret)
    channels = NotificationChannel.objects.unscoped().select_related("organization", "connection")
    found = channels.filter(url_secret_digest=digest).first()
    if found is None or not hmac.compare_digest(digest, found.url_secret_digest or ""):
        return None
    return found


def channel_subscription(channel: NotificationChannel, *, expires_at: datetime | None = None) -> Subscription:
    """The channel as the provider's subscription (what it verifies callbacks against)."""
    return Subscription(
        id=str(channel.channel_id),
        objects=tuple(channel.objects_watched or ()),
        notify_url=notify_url(channel),
        secret=channel.token.reveal() if channel.token else "",
        expires_at=expires_at if expires_at is not None else channel.expires_at,
    )


def _live_provider(organization: Organization, connection: ProviderAccount | None) -> CrmProvider | None:
    """The connection's provider when the channel may be live: an active organization, a connected CRM with a
    change feed."""
    if not organization.is_active or connection is None or not connection.refresh_token:
        return None
    provider = run_provider(organization=organization, connection=connection)
    return provider if provider.supports(Capability.CHANGE_FEED) else None


def channel_ensure(
    *, organization: Organization, connection: ProviderAccount | None = None, now: datetime | None = None
) -> NotificationChannel | None:
    """Make the connection's channel (the organization's default connection's) live at the CRM for every mirrored
    object: subscribe the first time or after it lapsed or was refused, renew it when it expires within
    RENEW_WITHIN, else leave it. A CRM error is kept in `last_error` (the channel stays as it was). An inactive
    organization, or a connection without credentials or change feed, gets its channel disabled (returns None)."""
    connection = connection or crm_connection_get(organization=organization)
    provider = _live_provider(organization, connection)
    if provider is None:
        channel_disable(organization=organization, connection=connection, reason="inactive, or no CRM connection")
        return None
    now = now or timezone.now()
    channel = _channel_get_or_create(organization, connection)
    objects = mirrored_objects(organization=organization, connection=connection)
    live = channel.is_active and channel.expires_at is not None and channel.expires_at > now
    if live and channel.objects_watched == objects and channel.expires_at > now + RENEW_WITHIN:
        return channel
    try:
        granted = _subscribe(provider, channel, objects, live=live, expires_at=now + CHANNEL_LIFETIME)
    except CrmError as exc:
        logger.warning("sync.notifications.subscribe_failed", channel=channel.pk, error=str(exc))
        where = f" {exc.details}" if exc.details else ""  # e.g. which object the CRM refused
        values: dict[str, Any] = {"last_error": f"{type(exc).__name__}: {exc}{where}"[:2000]}
        if not live:
            values["is_active"] = False
        _channel_update(channel, **values)
        return channel
    _channel_update(
        channel,
        is_active=True,
        objects_watched=objects,
        expires_at=granted.expires_at or now + CHANNEL_LIFETIME,
        renewed_at=now,
        last_error="",
    )
    return channel


def channel_disable(
    *, organization: Organization, connection: ProviderAccount | None = None, reason: str = ""
) -> NotificationChannel | None:
    """Unsubscribe at the CRM when the connection can still call it, and stop taking the channel's callbacks.
    Without credentials (disconnected) the subscription lapses at the CRM by itself within CHANNEL_LIFETIME."""
    connection = connection or crm_connection_get(organization=organization)
    channel = NotificationChannel.objects.for_organization(organization).filter(connection=connection).first()
    if channel is None or (not channel.is_active and channel.expires_at is None):
        return channel
    problem = ""
    if channel.is_active and connection is not None and connection.refresh_token:
        try:
            provider = run_provider(organization=organization, connection=connection)
            provider.unsubscribe(subscription=channel_subscription(channel))
        except (CrmError, NotImplementedError) as exc:
            problem = f"; the CRM did not unsubscribe it ({type(exc).__name__}: {exc})"
    _channel_update(channel, is_active=False, expires_at=None, last_error=f"disabled: {reason}{problem}"[:2000])
    return channel


def channels_renew_due(*, now: datetime | None = None) -> int:
    """The beat job: ensure (create, renew, re-enable) the channel of every CRM connection of every organization,
    verify the ones already live, and disable the others' channels. One organization's failure does not stop the
    rest. Returns how many channels are live afterwards."""
    now = now or timezone.now()
    live = 0
    for organization in Organization.objects.unscoped().order_by("pk"):  # every tenant: this is the beat
        connections = list(crm_connections(organization=organization)) or [None]
        for connection in connections:
            try:
                channel = channel_ensure(organization=organization, connection=connection, now=now)
                if channel is not None and channel.is_active and channel.renewed_at != now:  # not just subscribed
                    channel_verify(
                        organization=organization, connection=connection, reason="the periodic check", now=now
                    )
                    channel.refresh_from_db()
            except Exception:
                logger.exception("sync.notifications.renew_failed", organization=organization.pk)
                continue
            live += bool(channel and channel.is_active)
    return live


def channel_verify(
    *,
    organization: Organization,
    reason: str,
    connection: ProviderAccount | None = None,
    now: datetime | None = None,
) -> bool | None:
    """Renew the connection's live channel at the CRM: a subscription the CRM no longer has (CrmNotFound) is made
    again at once, logged (`sync.notifications.channel_lost`) and noted on the channel. Returns True when it was
    lost, False when it is there, None when there is nothing live to check. Other CRM errors propagate."""
    now = now or timezone.now()
    connection = connection or crm_connection_get(organization=organization)
    channel = NotificationChannel.objects.for_organization(organization).filter(connection=connection).first()
    if channel is None or not channel.is_active or channel.expires_at is None or channel.expires_at <= now:
        return None
    provider = _live_provider(organization, connection)
    if provider is None:
        return None
    try:
        granted = provider.renew(subscription=channel_subscription(channel, expires_at=now + CHANNEL_LIFETIME))
    except CrmNotFound:
        pass
    else:
        _channel_update(channel, expires_at=granted.expires_at or now + CHANNEL_LIFETIME, renewed_at=now)
        return False
    logger.warning("sync.notifications.channel_lost", organization=organization.pk, channel=channel.pk, found_by=reason)
    _channel_update(channel, is_active=False)
    channel = channel_ensure(organization=organization, connection=connection, now=now)
    if channel is None:
        return True
    if channel.is_active:
        note = f"re-subscribed {now:%Y-%m-%d %H:%M} UTC: the CRM no longer had the subscription (found by {reason})"
    else:
        note = f"lost at the CRM (found by {reason}); re-subscribing failed: {channel.last_error}"
    _channel_update(channel, last_error=note[:2000])
    return True


def channel_check_after_run(*, run: SyncRun) -> str:
    """After a delta run that wrote changes: if the connection's channel covers the object and was not checked
    within CHECK_EVERY, verify it (a live channel would have announced these changes first). Returns a note for
    the run ("" when there is nothing to say). Never raises: the run's own outcome stands."""
    if run.kind != SyncRun.Kind.DELTA or not (run.inserted or run.updated):
        return ""
    organization = run.organization
    channel = NotificationChannel.objects.for_organization(organization).filter(connection_id=run.connection_id).first()
    if channel is None or not channel.is_active or run.object not in (channel.objects_watched or []):
        return ""
    if not cache.add(CHECK_KEY.format(organization_id=organization.pk), "1", timeout=CHECK_EVERY.total_seconds()):
        return ""
    changes = run.inserted + run.updated
    try:
        lost = channel_verify(
            organization=organization,
            connection=run.connection,
            reason=f"delta run {run.pk}: {changes} unannounced changes",
        )
    except Exception:
        logger.exception("sync.notifications.check_failed", run_id=run.pk)
        return ""
    if not lost:
        return ""
    channel.refresh_from_db()
    return f"the notification channel was gone at the CRM: {channel.last_error}"


def channel_accepts_callbacks(channel: NotificationChannel, *, now: datetime) -> bool:
    """Live, or lapsed moments ago (callbacks sent just before the expiry can arrive after it); a disabled
    channel has no expiry."""
    return channel.expires_at is not None and channel.expires_at > now - LAPSED_GRACE


def _channel_get_or_create(organization: Organization, connection: ProviderAccount) -> NotificationChannel:
    scoped = NotificationChannel.objects.for_organization(organization).filter(connection=connection)
    channel = scoped.first()
    if channel is not None:
        return channel
    try:
        url_secret = secrets.token_urlsafe(32)
        with transaction.atomic():
            return NotificationChannel.objects.for_organization(organization).create(
                organization=organization,
                connection=connection,
                channel_id=secrets.randbelow(2**62) + 2**40,  # a positive long of our choice
                token=Secret(secrets.token_urlsafe(32)),  # 43 characters: within every CRM's limit (50 at most)
                url_secret=Secret(url_secret),
                url_secret_digest=channel_secret_digest(url_secret),
            )
    except IntegrityError:  # created at the same moment by a concurrent beat
        return scoped.get()


def _subscribe(
    provider: CrmProvider, channel: NotificationChannel, objects: list[str], *, live: bool, expires_at: datetime
) -> Subscription:
    wanted = Subscription(
        id=str(channel.channel_id),
        objects=tuple(objects),
        notify_url=notify_url(channel),
        secret=channel.token.reveal(),  # echoed (or signed with) in every callback
        expires_at=expires_at,
    )
    if live:
        if set(channel.objects_watched or []) <= set(objects):
            try:
                return provider.renew(subscription=wanted)
            except CrmError as exc:
                # Lapsed early, removed at the CRM, or refused: subscribed afresh below.
                logger.info("sync.notifications.renew_refused", channel=channel.pk, error=str(exc))
        else:
            # A renewal keeps objects it does not list; an object no longer mirrored goes with a fresh subscription.
            try:
                provider.unsubscribe(subscription=channel_subscription(channel))
            except CrmError:
                pass  # already gone at the CRM
    return provider.subscribe(subscription=wanted)


def _channel_update(channel: NotificationChannel, **values: Any) -> None:
    NotificationChannel.objects.unscoped().filter(pk=channel.pk).update(**values)  # a row we already hold
    for name, value in values.items():
        setattr(channel, name, value)
