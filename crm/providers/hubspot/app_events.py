"""HubSpot's app webhooks (Capability.APP_EVENTS): one URL receives the events of every portal that installed the
app, as JSON arrays signed with the app's client secret (signature v3). `app_events_parse` verifies a delivery and
says what each event is about; the generic view (automation/webhooks.py) finds each event's connection by its portal.

Signature v3 (docs/vendors/hubspot.md): `X-HubSpot-Signature-v3` is base64(HMAC-SHA256(client secret, method + URI
+ body + X-HubSpot-Request-Timestamp)), the URI with a few percent-escapes decoded as HubSpot does; a timestamp
older than HUBSPOT_WEBHOOK_MAX_AGE_SECONDS is refused (a captured delivery cannot be replayed later). The v1 and v2
signatures HubSpot still sends cover no timestamp: a delivery carrying only those is refused. An account connected
through its own app (ProviderAccount.client_id/client_secret) gets that app's deliveries signed with its secret:
they are taken for that account's portal only.

Events: the developer platform's `object.creation` / `object.propertyChange` / `object.deletion` (with
`objectTypeId`) and the legacy `contact.creation`, `company.propertyChange`, ... Leadline's lead on HubSpot is a
contact, so a contact event names the canonical object "lead". A change the app made itself comes back with
`changeSource` "INTEGRATION" and `sourceId` our app id: `ours` (never a reason to start automation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from crm.errors import CrmNotificationInvalid
from crm.providers.hubspot.conf import hubspot_settings
from crm.records import AppEvent, CanonicalObject, ChangeOperation

logger = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
# A delivery signed with an account's own app: how many of the portals it names are looked up (it names one).
OWN_APP_PORTALS_MAX = 5
# A timestamp this far ahead of our clock is still taken (clocks differ a little); further is refused.
FUTURE_SKEW_SECONDS = 60
# The percent-escapes HubSpot decodes in the URI before signing it (its request-validation guide).
URI_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}

# objectTypeId -> Leadline's canonical object (contacts hold Leadline's leads), else HubSpot's object name.
OBJECT_TYPES = {
    "0-1": CanonicalObject.LEAD.value,
    "0-2": CanonicalObject.ACCOUNT.value,
    "0-3": CanonicalObject.DEAL.value,
    "0-5": "tickets",
    "0-27": CanonicalObject.TASK.value,
}
# The legacy subscription types' prefix (`contact.creation`) -> the same.
LEGACY_OBJECTS = {
    "contact": CanonicalObject.LEAD.value,
    "company": CanonicalObject.ACCOUNT.value,
    "deal": CanonicalObject.DEAL.value,
    "ticket": "tickets",
    "product": "products",
    "line_item": "line_items",
}
# The subscription type's action -> the operation. A restore, merge or association change updates the record
# (the mirror reads it); only a creation is new.
OPERATIONS = {
    "creation": ChangeOperation.CREATED,
    "propertyChange": ChangeOperation.UPDATED,
    "deletion": ChangeOperation.DELETED,
    "privacyDeletion": ChangeOperation.DELETED,
}


def _refused(message: str, status: int) -> CrmNotificationInvalid:
    return CrmNotificationInvalid(message, provider="hubspot", code="INVALID_WEBHOOK", status=status)


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name whatever its case (Django's request.headers, or a plain dict in a test)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((item for key, item in headers.items() if key.lower() == wanted), None)
    return str(value or "").strip()


def signed_uri(url: str) -> str:
    """The URI as HubSpot puts it in the signed string."""
    for escaped, character in URI_DECODED.items():
        url = url.replace(escaped, character).replace(escaped.lower(), character)
    return url


def signature_v3(*, secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature of a request (what HubSpot sends; the emulator and tests sign with it too)."""
    message = method.upper().encode() + signed_uri(url).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    *, method: str, url: str, body: bytes, headers: Mapping[str, str], now: float | None = None
) -> frozenset[str] | None:
    """Raise CrmNotificationInvalid (401) unless the delivery carries a fresh v3 signature made with our app's
    client secret (returns None: every portal's events count) or with the own app of an account holding a portal
    the body names (returns those portals: only their events count, so one customer's app can speak for no other
    customer's portal)."""
    app_secret = str(hubspot_settings.CLIENT_SECRET or "")
    signature, stamp = _header(headers, SIGNATURE_HEADER), _header(headers, TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise _refused("The delivery has no v3 signature (X-HubSpot-Signature-v3 and its timestamp)", 401)
    try:
        sent_ms = int(stamp)
    except ValueError:
        raise _refused("The request timestamp is not a number of milliseconds", 401) from None
    age = (time.time() if now is None else now) - sent_ms / 1000
    if age > hubspot_settings.WEBHOOK_MAX_AGE_SECONDS:
        raise _refused(f"The request timestamp is {age:.0f} s old", 401)
    if age < -FUTURE_SKEW_SECONDS:
        raise _refused(f"The request timestamp is {-age:.0f} s in the future", 401)

    def signed_with(secret: str) -> bool:
        expected = signature_v3(secret=secret, method=method, url=url, body=body, timestamp=stamp)
        return hmac.compare_digest(expected.encode(), signature.encode())

    if app_secret and signed_with(app_secret):
        return None
    portals = frozenset(
        portal for portal, secret in _own_app_secrets(body).items() if secret != app_secret and signed_with(secret)
    )
    if not portals:
        raise _refused("The v3 signature does not match", 401)
    return portals


def _own_app_secrets(body: bytes) -> dict[str, str]:
    """portal id -> the client secret of the account holding it, for the first few portals the (not yet verified)
    body names whose account connects through its own app (a bounded number of lookups per request)."""
    from crm.providers.hubspot import services
    from crm.providers.hubspot.hosts import app_credentials

    try:
        items = json.loads(body)
    except ValueError:
        return {}
    named = (
        dict.fromkeys(_text(item.get("portalId")) for item in items if isinstance(item, dict))
        if isinstance(items, list)
        else {}
    )
    found = {}
    for portal in [portal for portal in named if portal.isdigit()][:OWN_APP_PORTALS_MAX]:
        account = services.connection_for_hub(portal)
        if account is not None and account.client_id:
            found[portal] = app_credentials(account)[1]
    return found


def app_events_parse(*, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> list[AppEvent]:
    """Verify a delivery (401 when it does not) and read its events (400 when the body is not a JSON array). An
    event that cannot be read (no portal, object or id) is logged and left out: the mirror's delta covers it."""
    portals = verify(method=method, url=url, body=body, headers=headers)
    try:
        items = json.loads(body)
    except ValueError:
        raise _refused("The body is not JSON", 400) from None
    if not isinstance(items, list):
        raise _refused("The body is not a JSON array of events", 400)
    events = []
    for item in items:
        event = _event(item) if isinstance(item, dict) else None
        if event is None:
            logger.warning("hubspot.app_event_unreadable", item=str(item)[:300])
            continue
        if portals is not None and event.org_id not in portals:
            logger.warning("hubspot.app_event_not_signed_for_its_portal", org_id=event.org_id, event_id=event.event_id)
            continue
        events.append(event)
    return events


def _event(item: Mapping[str, Any]) -> AppEvent | None:
    kind = str(item.get("subscriptionType") or "")
    prefix, _, action = kind.partition(".")
    event_id, portal, record_id = (_text(item.get(name)) for name in ("eventId", "portalId", "objectId"))
    if not (event_id and portal and record_id and action):
        return None
    if prefix == "object":
        type_id = _text(item.get("objectTypeId"))
        obj = OBJECT_TYPES.get(type_id, type_id)
    else:
        obj = LEGACY_OBJECTS.get(prefix, prefix)
    if not obj:
        return None
    return AppEvent(
        event_id=event_id,
        org_id=portal,
        object=obj,
        operation=OPERATIONS.get(action, ChangeOperation.UPDATED),
        record_id=record_id,
        occurred_at=_when(item.get("occurredAt")),
        ours=_ours(item),
        property_name=_text(item.get("propertyName")),
        property_value=_text(item.get("propertyValue")),
        attempt=_number(item.get("attemptNumber")),
        raw=dict(item),
    )


def _ours(item: Mapping[str, Any]) -> bool:
    """Our app's own write: its sourceId is our app id (HubSpot sets changeSource INTEGRATION with it). The event's
    `appId` is the app the delivery is for, which is ours too (an account on its own app has another id)."""
    source = _text(item.get("sourceId"))
    ours = {str(hubspot_settings.APP_ID or ""), _text(item.get("appId"))} - {""}
    return bool(source) and source in ours


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _when(value: Any) -> datetime | None:
    """occurredAt: milliseconds since the epoch."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
