"""App webhooks: what HubSpot POSTs to an app's target URL when records change in portals where the app is installed
(docs/vendors/hubspot.md, Webhooks).

An app's settings (`targetUrl`, `maxConcurrentRequests`) and subscriptions live in `App.extra["webhooks"]` (a
`WebhookSettings`), set through the control API (control_webhooks.py) or `configure()` (a world's seed).
Subscriptions: `object.creation` / `object.propertyChange` (with `propertyName`) / `object.deletion` /
`object.restore` / `object.merge` for an `objectTypeId` ("0-1" contacts, "0-2" companies, "0-3" deals, ...), and
the legacy `contact.*`, `company.*`, `deal.*` ones (no objectTypeId in their events).

Events come from the portals' change hook (`HubSpotState.listeners`, state.py): one per matching subscription, a
propertyChange per subscribed property a write changed (a creation counts: its values are changes too,
UNCONFIRMED), with eventId, subscriptionId, portalId, appId, occurredAt (ms), subscriptionType, attemptNumber
(0 first), objectId, objectTypeId (object.* only), changeFlag (NEW on creation, DELETED on deletion, none on
propertyChange), propertyName/propertyValue, changeSource and sourceId (INTEGRATION + the writing app's id for
calls made with an app's token; CRM_UI + "userId:<id>" for a person's edit through the control API).

Deliveries: JSON arrays of up to `hs_webhook_batch_max` events of one portal, POSTed compact with
`X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + URI + body + timestamp)),
`X-HubSpot-Request-Timestamp` (ms), `X-HubSpot-Signature` (v1: sha256 hex of client secret + body) with
`X-HubSpot-Signature-Version: v1`, and `X-HubSpot-Timeout-Millis`. A connection error, a timeout
(`hs_webhook_timeout_seconds`) or an answer other than 2xx is tried again with attemptNumber one higher, up to
`hs_webhook_max_attempts` attempts, `hs_webhook_retry_seconds` after the first failure and doubling after each
further one, on the sandbox clock (UNCONFIRMED: HubSpot spreads 10 retries over 24 hours with randomized
delays). Every attempt is logged for tests (`/_sandbox/hubspot/apps/<id>/webhooks/deliveries`) and listed in the
outbox under kind "hubspot_webhook". An app whose settings say `paused` keeps its events until a flush.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.catalog import OBJECT_TYPES, resolve

if TYPE_CHECKING:
    from sandbox.hubspot.state import App, Change, HubSpotState

OUTBOX_KIND = "hubspot_webhook"
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon-executor"  # UNCONFIRMED text
OPERATIONS = ("creation", "propertyChange", "deletion", "restore", "merge")
LEGACY_OBJECTS = {"contacts": "contact", "companies": "company", "deals": "deal"}
CHANGE_FLAGS = {"creation": "NEW", "deletion": "DELETED"}
TICK_SECONDS = 0.05  # how often due retries are looked for (real time)
BATCH_WAIT_SECONDS = 0.05  # events of one request go out together


# --- signatures ------------------------------------------------------------------------------------------------
def signature_v3(secret: str, method: str, uri: str, body: str, timestamp_ms: int | str) -> str:
    """base64(HMAC-SHA256(secret, method + uri + body + timestamp)) over the UTF-8 text."""
    message = f"{method.upper()}{uri}{body}{timestamp_ms}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def signature_v1(secret: str, body: str) -> str:
    """sha256 hex of secret + body (what X-HubSpot-Signature carries with version v1)."""
    return hashlib.sha256(f"{secret}{body}".encode()).hexdigest()


def signature_v2(secret: str, method: str, uri: str, body: str) -> str:
    """sha256 hex of secret + method + uri + body (v2; HubSpot's workflow and card requests)."""
    return hashlib.sha256(f"{secret}{method.upper()}{uri}{body}".encode()).hexdigest()


def delivery_headers(secret: str, uri: str, body: str, timestamp_ms: int, timeout_ms: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-HubSpot-Signature": signature_v1(secret, body),
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature-v3": signature_v3(secret, "POST", uri, body, timestamp_ms),
        "X-HubSpot-Request-Timestamp": str(timestamp_ms),
        "X-HubSpot-Timeout-Millis": str(timeout_ms),
    }


# --- settings and subscriptions --------------------------------------------------------------------------------
class SubscriptionError(ValueError):
    """A subscription HubSpot would refuse (the control API answers 400 with the message)."""


@dataclass
class Subscription:
    id: int
    event_type: str  # "object.propertyChange", "contact.creation", ...
    object_type: str  # "contacts"
    property_name: str | None = None
    active: bool = True
    created_at: int = 0

    @property
    def operation(self) -> str:
        return self.event_type.split(".", 1)[1]

    @property
    def is_object(self) -> bool:
        return self.event_type.startswith("object.")

    def matches(self, change: Change) -> bool:
        if not self.active or change.object_type != self.object_type:
            return False
        if self.operation == "propertyChange":
            return change.operation in ("propertyChange", "creation") and self.property_name in change.properties
        return change.operation == self.operation

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "eventType": self.event_type, "active": self.active}
        if self.is_object:
            body["objectTypeId"] = OBJECT_TYPES[self.object_type].type_id
        if self.property_name:
            body["propertyName"] = self.property_name
        body["createdAt"] = self.created_at
        return body


_subscription_ids = itertools.count(1000)


def new_subscription(spec: dict[str, Any], *, now_ms: int = 0) -> Subscription:
    """A subscription from `{eventType | subscriptionType, objectTypeId | objectType, propertyName, active}`."""
    event_type = str(spec.get("eventType") or spec.get("subscriptionType") or "")
    prefix, _, operation = event_type.partition(".")
    if operation not in OPERATIONS:
        raise SubscriptionError(f"Unknown subscription type '{event_type}'")
    if prefix == "object":
        kind = resolve(str(spec.get("objectTypeId") or spec.get("objectType") or ""))
        if kind is None:
            raise SubscriptionError("object.* subscriptions need an objectTypeId (e.g. 0-1)")
    else:
        legacy = {singular: name for name, singular in LEGACY_OBJECTS.items()}
        if prefix not in legacy:
            raise SubscriptionError(f"Unknown subscription type '{event_type}'")
        kind = OBJECT_TYPES[legacy[prefix]]
    property_name = spec.get("propertyName")
    if operation == "propertyChange" and not property_name:
        raise SubscriptionError("propertyChange subscriptions need a propertyName")
    return Subscription(
        id=next(_subscription_ids),
        event_type=event_type,
        object_type=kind.name,
        property_name=str(property_name) if property_name and operation == "propertyChange" else None,
        active=bool(spec.get("active", True)),
        created_at=now_ms,
    )


@dataclass
class WebhookSettings:
    target_url: str = ""
    max_concurrent_requests: int = 10
    paused: bool = False  # the emulator's own switch: events wait for a flush
    subscriptions: dict[int, Subscription] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "targetUrl": self.target_url,
            "maxConcurrentRequests": self.max_concurrent_requests,
            "paused": self.paused,
            "subscriptions": [sub.as_json() for sub in self.subscriptions.values()],
        }


def settings_of(app: App) -> WebhookSettings:
    found = app.extra.get("webhooks")
    if not isinstance(found, WebhookSettings):
        found = app.extra["webhooks"] = WebhookSettings()
    return found


# --- events ----------------------------------------------------------------------------------------------------
def _number(text: Any) -> Any:
    return int(text) if str(text).isdigit() else text


def source_fields(change: Change) -> dict[str, Any]:
    source = change.source
    fields: dict[str, Any] = {"changeSource": source.change_source}
    if source.source_id is not None:
        ui = source.change_source.startswith("CRM_UI") and not str(source.source_id).startswith("userId:")
        fields["sourceId"] = f"userId:{source.source_id}" if ui else str(source.source_id)
    return fields


def events_for(app: App, settings: WebhookSettings, change: Change, next_id: Any) -> list[dict[str, Any]]:
    """The events one change makes for one app (attemptNumber set at delivery)."""
    found = []
    for sub in settings.subscriptions.values():
        if not sub.matches(change):
            continue
        event: dict[str, Any] = {
            "eventId": next_id(),
            "subscriptionId": sub.id,
            "portalId": change.portal_id,
            "appId": _number(app.app_id),
            "occurredAt": change.occurred_at,
            "subscriptionType": sub.event_type,
            "attemptNumber": 0,
            "objectId": _number(change.object_id),
        }
        if sub.is_object:
            event["objectTypeId"] = change.object_type_id
        if sub.operation == "propertyChange":
            event["propertyName"] = sub.property_name
            event["propertyValue"] = change.properties.get(sub.property_name or "", "")
        elif change.operation in CHANGE_FLAGS:
            event["changeFlag"] = CHANGE_FLAGS[change.operation]
        if change.operation == "merge":
            event["primaryObjectId"] = _number(change.object_id)
            event["mergedObjectIds"] = [_number(merged) for merged in change.merged_ids]
            event["newObjectId"] = _number(change.object_id)
        event.update(source_fields(change))
        if sub.is_object:
            event["isSensitive"] = False
        found.append(event)
    return found


def installed(hs: HubSpotState, app_id: str, portal_id: int) -> bool:
    return any(grant.alive and grant.app_id == app_id and grant.portal_id == portal_id for grant in hs.grants.values())


# --- the hub: queue, delivery, retries, log --------------------------------------------------------------------
@dataclass
class Batch:
    id: int
    app_id: str
    portal_id: int
    events: list[dict[str, Any]]
    attempt: int = 0  # the attemptNumber of the next try
    due: float = 0.0  # sandbox epoch seconds


_HUBS: weakref.WeakKeyDictionary[Any, WebhookHub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def hub_of(hs: HubSpotState) -> WebhookHub:
    """The webhook hub of this HubSpot state, made (and hooked to its changes) on first use."""
    with _HUBS_LOCK:
        hub = _HUBS.get(hs)
        if hub is None:
            hub = _HUBS[hs] = WebhookHub(hs)
            hs.listeners.append(hub.on_change)
        return hub


def configure(
    hs: HubSpotState, app: App, *, target_url: str, subscriptions: list[dict[str, Any]] = ()
) -> WebhookSettings:
    """Set an app's target URL and add subscriptions (a world's seed; the control API does the same over HTTP)."""
    hub = hub_of(hs)
    settings = settings_of(app)
    settings.target_url = target_url
    for spec in subscriptions:
        sub = new_subscription(spec, now_ms=hub.now_ms())
        settings.subscriptions[sub.id] = sub
    return settings


class WebhookHub:
    def __init__(self, hs: HubSpotState) -> None:
        self.hs = hs
        self.sandbox = hs.sandbox
        self.pending: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        self.retries: list[Batch] = []
        self.attempts: list[dict[str, Any]] = []  # every attempt, oldest first (the newest 5,000)
        self._event_ids = itertools.count(int(time.time() * 1000) % 10**9 * 10)
        self._batch_ids = itertools.count(1)
        self._lock = threading.RLock()
        self._kick: threading.Timer | None = None
        self._ticker: threading.Thread | None = None

    def now_ms(self) -> int:
        return int(self.sandbox.clock.timestamp() * 1000)

    @property
    def retired(self) -> bool:
        return getattr(self.sandbox, "hubspot", None) is not self.hs or self.sandbox.sender.stopped

    # --- events in -----------------------------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        """The change hook: queue the events of every app installed in the portal with a matching subscription."""
        queued = False
        for app in list(self.hs.apps.values()):
            settings = app.extra.get("webhooks")
            if not isinstance(settings, WebhookSettings) or not settings.subscriptions:
                continue
            if not installed(self.hs, app.app_id, change.portal_id):
                continue
            events = events_for(app, settings, change, lambda: next(self._event_ids))
            if events:
                with self._lock:
                    self.pending[(app.app_id, change.portal_id)] += events
                queued = queued or not settings.paused
        if queued:
            self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            if self._kick is not None:
                return
            self._kick = threading.Timer(BATCH_WAIT_SECONDS, self._dispatch_pending)
            self._kick.daemon = True
            self._kick.start()

    def _dispatch_pending(self) -> None:
        with self._lock:
            self._kick = None
        if self.retired:
            return
        for batch in self.take_batches(include_paused=False):
            self._submit(batch)

    # --- batches -------------------------------------------------------------------------------------------
    def take_batches(self, *, include_paused: bool, app_id: str | None = None) -> list[Batch]:
        """Pending events cut into batches of at most `hs_webhook_batch_max`, per app and portal."""
        size = max(1, int(self.sandbox.config.hs_webhook_batch_max))
        batches = []
        with self._lock:
            for (owner, portal_id), events in list(self.pending.items()):
                app = self.hs.apps.get(owner)
                if app is None or (app_id is not None and owner != app_id):
                    continue
                if settings_of(app).paused and not include_paused:
                    continue
                del self.pending[(owner, portal_id)]
                for start in range(0, len(events), size):
                    batches.append(Batch(next(self._batch_ids), owner, portal_id, events[start : start + size]))
        return batches

    def take_due(self, *, app_id: str | None = None, everything: bool = False) -> list[Batch]:
        """Retries whose time has come on the sandbox clock (all of them with `everything`)."""
        now = self.sandbox.clock.timestamp()
        with self._lock:
            due = [b for b in self.retries if (everything or b.due <= now) and (app_id is None or b.app_id == app_id)]
            self.retries = [batch for batch in self.retries if batch not in due]
        return due

    def _request(self, batch: Batch) -> dict[str, Any] | None:
        """The HTTP request of one attempt (None when the app has no target URL any more)."""
        app = self.hs.apps.get(batch.app_id)
        if app is None or not settings_of(app).target_url:
            return None
        url = settings_of(app).target_url
        events = [{**event, "attemptNumber": batch.attempt} for event in batch.events]
        body = json.dumps(events, separators=(",", ":"))  # ASCII (escaped), so the bytes sent are this text
        timeout = float(self.sandbox.config.hs_webhook_timeout_seconds)
        headers = delivery_headers(app.client_secret, url, body, self.now_ms(), int(timeout * 1000))
        return {
            "kind": OUTBOX_KIND,
            "method": "POST",
            "url": url,
            "headers": headers,
            "data": body,
            "timeout": (5.0, timeout),
        }

    def _submit(self, batch: Batch) -> None:
        """Send on the sandbox's background sender (in order, after the write's request ended)."""
        request = self._request(batch)
        if request is None or self.retired:
            return
        self.sandbox.sender.submit(**request, on_done=lambda sent: self._done(batch, request, sent))

    def send_now(self, batch: Batch) -> dict[str, Any] | None:
        """Send on this thread (the control API's flush) and return the attempt's log entry."""
        request = self._request(batch)
        if request is None:
            return None
        return self._done(batch, request, self.sandbox.outbox.send(**request))

    def _done(self, batch: Batch, request: dict[str, Any], sent: Any) -> dict[str, Any]:
        delivered = sent.error is None and sent.status is not None and 200 <= sent.status < 300
        entry: dict[str, Any] = {
            "batchId": batch.id,
            "appId": batch.app_id,
            "portalId": batch.portal_id,
            "attemptNumber": batch.attempt,
            "url": request["url"],
            "sentAt": int(request["headers"]["X-HubSpot-Request-Timestamp"]),
            "status": sent.status,
            "error": sent.error,
            "delivered": delivered,
            "eventIds": [event["eventId"] for event in batch.events],
            "events": json.loads(request["data"]),
            "headers": request["headers"],
            "nextAttemptAt": None,
        }
        if not delivered and batch.attempt + 1 < int(self.sandbox.config.hs_webhook_max_attempts):
            wait = float(self.sandbox.config.hs_webhook_retry_seconds) * 2**batch.attempt
            batch.attempt += 1
            batch.due = self.sandbox.clock.timestamp() + wait
            entry["nextAttemptAt"] = int(batch.due * 1000)
            with self._lock:
                self.retries.append(batch)
            self._ensure_ticker()
        with self._lock:
            self.attempts.append(entry)
            del self.attempts[:-5000]
        return entry

    # --- retries on the sandbox clock ----------------------------------------------------------------------
    def _ensure_ticker(self) -> None:
        with self._lock:
            if self._ticker is not None and self._ticker.is_alive():
                return
            self._ticker = threading.Thread(target=self._tick, name="sandbox-hubspot-webhooks", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self.retired:
            time.sleep(TICK_SECONDS)
            for batch in self.take_due():
                app = self.hs.apps.get(batch.app_id)
                if app is not None and settings_of(app).paused:
                    with self._lock:
                        self.retries.append(batch)
                    continue
                self._submit(batch)
            with self._lock:
                if not self.retries:
                    self._ticker = None
                    return

    # --- the control API's view ----------------------------------------------------------------------------
    def flush(self, app_id: str, *, retries: bool = True, all_retries: bool = False) -> list[dict[str, Any]]:
        """Deliver the app's pending events (paused or not) and, with `retries`, its due retries (every one with
        `all_retries`), now, on this thread; the attempts made, in order."""
        self.sandbox.sender.drain(timeout=10)
        batches = self.take_batches(include_paused=True, app_id=app_id)
        if retries:
            batches += self.take_due(app_id=app_id, everything=all_retries)
        made = [self.send_now(batch) for batch in batches]
        return [entry for entry in made if entry is not None]

    def log(self, app_id: str) -> dict[str, Any]:
        with self._lock:
            return {
                "attempts": [entry for entry in self.attempts if entry["appId"] == app_id],
                "pending": sum(len(events) for (owner, _), events in self.pending.items() if owner == app_id),
                "retries": [
                    {
                        "batchId": b.id,
                        "attemptNumber": b.attempt,
                        "due": int(b.due * 1000),
                        "eventIds": [e["eventId"] for e in b.events],
                    }
                    for b in self.retries
                    if b.app_id == app_id
                ],
            }

    def clear(self, app_id: str) -> None:
        with self._lock:
            self.attempts = [entry for entry in self.attempts if entry["appId"] != app_id]
            self.retries = [batch for batch in self.retries if batch.app_id != app_id]
            for key in [key for key in self.pending if key[0] == app_id]:
                del self.pending[key]
