"""Dataverse's webhooks (Capability.APP_EVENTS): a step registered on a table's message (lead Create, stage 40,
asynchronous) POSTs the operation's execution context (the JSON of Microsoft.Xrm.Sdk.RemoteExecutionContext) to
`/webhooks/crm/dynamics/events/`. `app_events_parse` verifies a delivery and says what it is about; the generic view
(automation/webhooks.py) finds its connection by the environment's organization id again and records a new lead.

Dataverse signs nothing. The webhook is registered with the HttpHeader authentication option: the header
`x-leadline-webhook-key` (dynamics_settings.WEBHOOK_HEADER) carries the connection's webhook secret (shown in the
admin, docs/crm/dynamics.md). The body's `OrganizationId` names the environment; the secret of the connection holding
it is compared with the header in constant time. Anything that cannot be checked that way (no JSON, no organization
id, an environment nobody holds, no secret set, no header, the wrong one) is refused with the same 401 and no hint
which: a caller without the secret learns nothing, and nothing it sends is stored.

One delivery is one event: MessageName (Create, Update, Delete, ...) on PrimaryEntityName (lead -> canonical "lead",
opportunity -> "deal", ...) about PrimaryEntityId. Its id is the asynchronous operation's OperationId (the same on
every retry of that operation), else RequestId, else CorrelationId with the record id. `ours` when the write was made
by the connection's application user (UserId or InitiatingUserId: the user a step runs as, and the one who called):
the echo of our own create, never a reason to start automation. OperationCreatedOn is WCF's "/Date(ms[+-hhmm])/"
(milliseconds since the epoch in UTC; the offset only says the server's zone).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from core.secrets import Secret
from crm.errors import CrmNotificationInvalid
from crm.records import AppEvent, CanonicalObject, ChangeOperation

logger = structlog.get_logger(__name__)

# Table logical name -> Leadline's canonical object; any other table keeps its logical name.
OBJECTS = {
    "lead": CanonicalObject.LEAD.value,
    "contact": CanonicalObject.CONTACT.value,
    "account": CanonicalObject.ACCOUNT.value,
    "opportunity": CanonicalObject.DEAL.value,
    "task": CanonicalObject.TASK.value,
}
# MessageName -> the operation. Messages that change a record without creating or deleting it (Assign, SetState,
# Merge's survivor, ...) are updates: the mirror reads the record.
OPERATIONS = {
    "create": ChangeOperation.CREATED,
    "update": ChangeOperation.UPDATED,
    "delete": ChangeOperation.DELETED,
}
# The context's scalar fields kept with the event (the recorded InboundEvent's payload). Target's attributes are
# left out: the intake reads the record from Dataverse, and a lead's details are not kept twice.
KEPT = (
    "MessageName",
    "PrimaryEntityName",
    "PrimaryEntityId",
    "OrganizationId",
    "OrganizationName",
    "UserId",
    "InitiatingUserId",
    "BusinessUnitId",
    "CorrelationId",
    "RequestId",
    "OperationId",
    "OperationCreatedOn",
    "Depth",
    "Stage",
    "Mode",
)
WCF_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REFUSED = "The delivery does not carry this environment's webhook key"
DEFAULT_HEADER = "x-leadline-webhook-key"


def _refused(message: str, status: int) -> CrmNotificationInvalid:
    return CrmNotificationInvalid(message, provider="dynamics", code="INVALID_WEBHOOK", status=status)


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name whatever its case (Django's request.headers, or a plain dict in a test)."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((item for key, item in headers.items() if key.lower() == wanted), None)
    return str(value or "").strip()


def webhook_header() -> str:
    """The name of the header the webhook's registration sends the key in."""
    from crm.providers.dynamics.conf import dynamics_settings

    return str(dynamics_settings.WEBHOOK_HEADER or DEFAULT_HEADER)


def _guid(value: Any) -> str:
    """A GUID in Dataverse's Web API form (lower case, no braces); "" when `value` is none."""
    text = _text(value).strip("{}").lower()
    return text if GUID.match(text) else ""


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, dict | list) else str(value).strip()


def _revealed(secret: Any) -> str:
    """An encrypted field's plaintext (a core.secrets.Secret), or "" when unset."""
    return secret.reveal() if isinstance(secret, Secret) else str(secret or "")


def _context(body: bytes) -> Mapping[str, Any] | None:
    try:
        context = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return context if isinstance(context, dict) else None


def _connection_for(org_id: str) -> Any | None:
    """The DynamicsConnection holding the environment, if exactly one active organization holds it."""
    from crm.providers.dynamics import services

    account = services.connection_for_environment(org_id)
    return getattr(account, "dynamics_connection", None) if account is not None else None


def verify(*, body: bytes, headers: Mapping[str, str]) -> tuple[Mapping[str, Any], Any]:
    """The delivery's context and the connection whose webhook key it carries; CrmNotificationInvalid (401, the same
    message whatever failed) otherwise."""
    given = _header(headers, webhook_header())
    context = _context(body)
    org_id = _guid(context.get("OrganizationId")) if context is not None else ""
    connection = _connection_for(org_id) if org_id else None
    expected = _revealed(getattr(connection, "webhook_secret", ""))
    # Compared even when there is nothing to compare with, so an unknown environment takes as long as a wrong key.
    matches = hmac.compare_digest((expected or secrets.token_hex(32)).encode(), given.encode())
    if connection is None or not expected or not given or not matches:
        logger.warning(
            "dynamics.app_event_refused",
            org_id=org_id,
            connection_id=getattr(connection, "pk", None),
            header_sent=bool(given),
            readable=context is not None,
        )
        raise _refused(REFUSED, 401)
    return context, connection


def app_events_parse(*, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> list[AppEvent]:
    """Verify a delivery (401 when it does not) and read its one event (400 when the verified context names no
    message or record)."""
    context, connection = verify(body=body, headers=headers)
    event = _event(context, application_user_id=_guid(getattr(connection, "application_user_id", "")))
    if event is None:
        raise _refused("The execution context names no message, table or record", 400)
    return [event]


def _event(context: Mapping[str, Any], *, application_user_id: str) -> AppEvent | None:
    message = _text(context.get("MessageName"))
    table = _text(context.get("PrimaryEntityName")).lower()
    record_id = _guid(context.get("PrimaryEntityId"))
    org_id = _guid(context.get("OrganizationId"))
    if not (message and table and record_id and org_id):
        return None
    event_id = (
        _guid(context.get("OperationId"))
        or _guid(context.get("RequestId"))
        or f"{_guid(context.get('CorrelationId')) or 'none'}:{message.lower()}:{record_id}"
    )
    users = {_guid(context.get("UserId")), _guid(context.get("InitiatingUserId"))} - {""}
    return AppEvent(
        event_id=event_id,
        org_id=org_id,
        object=OBJECTS.get(table, table),
        operation=OPERATIONS.get(message.lower(), ChangeOperation.UPDATED),
        record_id=record_id,
        occurred_at=wcf_datetime(context.get("OperationCreatedOn")),
        ours=bool(application_user_id) and application_user_id in users,
        raw={name: context.get(name) for name in KEPT if name in context},
    )


def wcf_datetime(value: Any) -> datetime | None:
    """WCF's JSON date as an aware datetime: /Date(1506409448000-0700)/ is 2017-09-26 07:04:08 UTC (the
    milliseconds are UTC whatever the offset says); None when `value` is not one."""
    found = WCF_DATE.match(_text(value))
    if found is None:
        return None
    try:
        return datetime.fromtimestamp(int(found.group(1)) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
