"""Webhooks registered in a Dataverse environment (a service endpoint plus a step on a table's message, as the
Plug-in Registration tool makes them): after a Create (or Update, Delete) on the step's table, Dataverse POSTs the
operation's `RemoteExecutionContext` as JSON to the endpoint.

What a delivery carries (docs/vendors/dynamics.md, Webhooks): the auth header the registration names (HttpHeader
authentication: Leadline asks for `x-leadline-webhook-key`), Dataverse's own headers (`x-request-id`,
`x-ms-dynamics-organization` = the environment's host, `x-ms-dynamics-entity-name`, `x-ms-dynamics-request-name`,
`x-ms-correlation-request-id`) and the context: MessageName, PrimaryEntityName/Id, OrganizationId/Name, UserId and
InitiatingUserId (the system user who wrote: the application user for a write with an app token, so an
integration can tell its own writes), their Entra object ids, BusinessUnitId, CorrelationId, RequestId,
OperationId (the same on every retry of one operation), OperationCreatedOn ("/Date(ms+0000)/"), Depth 1, Mode 1
(asynchronous), Stage 40 (post-operation), InputParameters [Target: the entity with its Attributes (option sets as
OptionSetValue, lookups as EntityReference, money as Money, datetimes as "/Date(ms)/") and FormattedValues],
OutputParameters [id] for a Create, empty images.

Steps run asynchronously: the kit's background sender (sandbox/kit/delivery.py) delivers after the write. An answer
other than 2xx, or none within dv_webhook_timeout_seconds, fails the step; only 502, 503 and 504 (a network problem
another attempt may get past) are tried again, up to dv_webhook_max_attempts in all (Microsoft: "one more attempt"),
dv_webhook_retry_seconds after the first failure and doubling (real time). Every attempt is recorded for the control
API (`webhook_deliveries`)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sandbox.dynamics.state import Change, Environment, Row, Table
    from sandbox.kit.delivery import Delivery

CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
MESSAGES = ("Create", "Update", "Delete")
MODE_ASYNC = 1
STAGE_POST_OPERATION = 40
DELIVERIES_KEPT = 2000
# The answers after which Dataverse makes one more attempt (docs/vendors/dynamics.md, Webhooks); any other fails.
RETRIED_STATUSES = frozenset({502, 503, 504})


def _steps(environment: Environment) -> list[dict[str, Any]]:
    return environment.extra.setdefault("webhooks", [])


def webhook_deliveries(environment: Environment) -> list[dict[str, Any]]:
    return environment.extra.setdefault("webhook_deliveries", [])


def webhook_register(
    environment: Environment,
    *,
    url: str,
    header_name: str = "",
    header_value: str = "",
    table: str = "lead",
    message: str = "Create",
) -> dict[str, Any]:
    """A webhook (service endpoint, HttpHeader authentication) with an asynchronous post-operation step on
    `message` of `table`. Returns the registration."""
    if message not in MESSAGES:
        raise ValueError(f"message must be one of {', '.join(MESSAGES)}")
    if environment.table(table) is None:
        raise ValueError(f"no table {table}")
    if not url.startswith(("http://", "https://")):
        raise ValueError("url must be http(s)")
    step = {
        "serviceendpointid": str(uuid.uuid4()),
        "sdkmessageprocessingstepid": str(uuid.uuid4()),
        "url": url,
        "authtype": "HttpHeader",
        "header_name": header_name,
        "header_value": header_value,
        "table": table,
        "message": message,
        "stage": STAGE_POST_OPERATION,
        "mode": MODE_ASYNC,
    }
    with environment.lock:
        _steps(environment).append(step)
    listen(environment.dynamics)
    return step


def webhook_unregister(environment: Environment, serviceendpointid: str) -> bool:
    with environment.lock:
        steps = _steps(environment)
        kept = [step for step in steps if step["serviceendpointid"] != serviceendpointid]
        removed = len(kept) != len(steps)
        steps[:] = kept
        return removed


def webhooks(environment: Environment) -> list[dict[str, Any]]:
    """The registrations, without the header's value."""
    return [{**step, "header_value": "***" if step["header_value"] else ""} for step in _steps(environment)]


def listen(dynamics: Any) -> None:
    """Hear every write of this Dynamics state (once; a sandbox reset makes a new state and listeners list)."""
    if on_change not in dynamics.listeners:
        dynamics.listeners.append(on_change)


def on_change(change: Change) -> None:
    environment = change.environment
    for step in list(_steps(environment)):
        if step["table"] == change.table and step["message"] == change.operation:
            deliver(environment, step, change)


# --- the execution context ---------------------------------------------------------------------------------------
def wcf_date(moment: datetime, *, offset: bool = False) -> str:
    millis = int(moment.astimezone(UTC).timestamp() * 1000)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def _attribute_value(environment: Environment, table: Table, name: str, row: Row) -> Any:
    attribute = table.attributes.get(name)
    value = row.get(name)
    if value is None or attribute is None:
        return value
    if attribute.is_lookup:
        target = row.get(f"{name}@table") or (attribute.targets[0] if attribute.targets else "")
        return {
            "__type": f"EntityReference:{CONTRACTS}",
            "Id": value,
            "KeyAttributes": [],
            "LogicalName": target,
            "Name": None,
            "RowVersion": None,
        }
    if attribute.is_option_set:
        return {"__type": f"OptionSetValue:{CONTRACTS}", "Value": value}
    if attribute.type == "Money":
        return {"__type": f"Money:{CONTRACTS}", "Value": value}
    if isinstance(value, datetime):
        return wcf_date(value)
    if isinstance(value, date):
        return wcf_date(datetime.combine(value, datetime.min.time(), tzinfo=UTC))
    return value


def _formatted(environment: Environment, table: Table, row: Row, names: list[str]) -> list[dict[str, str]]:
    from sandbox.dynamics.shapes import formatted_value

    found = []
    for name in names:
        attribute = table.attributes.get(name)
        value = row.get(name)
        if attribute is None or value is None or attribute.is_lookup:
            continue
        label = formatted_value(attribute, value)
        if label is not None:
            found.append({"key": name, "value": label})
    return found


def _entity(environment: Environment, table: Table, row: Row, names: list[str]) -> dict[str, Any]:
    return {
        "__type": f"Entity:{CONTRACTS}",
        "Attributes": [{"key": name, "value": _attribute_value(environment, table, name, row)} for name in names],
        "EntityState": None,
        "FormattedValues": _formatted(environment, table, row, names),
        "Id": row[table.primary_id],
        "KeyAttributes": [],
        "LogicalName": table.logical_name,
        "RelatedEntities": [],
        "RowVersion": str(row.get("versionnumber") or ""),
    }


def execution_context(environment: Environment, step: dict[str, Any], change: Change) -> dict[str, Any]:
    """The RemoteExecutionContext of one operation, as Dataverse serialises it for a webhook."""
    table = environment.table(change.table)
    row = change.row
    if change.operation == "Delete":
        target: dict[str, Any] = {
            "__type": f"EntityReference:{CONTRACTS}",
            "Id": change.row_id,
            "KeyAttributes": [],
            "LogicalName": change.table,
            "Name": None,
            "RowVersion": None,
        }
    else:
        names = [name for name in table.attributes if row.get(name) is not None]
        if change.operation == "Update":
            changed = set(change.changed) | {"modifiedon", "modifiedby", table.primary_id}
            names = [name for name in table.attributes if name in changed]
        target = _entity(environment, table, row, names)
    user = environment.user(change.by_user) or {}
    object_id = user.get("azureactivedirectoryobjectid") or "00000000-0000-0000-0000-000000000000"
    correlation = str(uuid.uuid4())
    return {
        "BusinessUnitId": environment.business_unit_id,
        "CorrelationId": correlation,
        "Depth": 1,
        "InitiatingUserAgent": "",
        "InitiatingUserAzureActiveDirectoryObjectId": object_id,
        "InitiatingUserId": change.by_user,
        "InputParameters": [{"key": "Target", "value": target}],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": change.operation,
        "Mode": step["mode"],
        "OperationCreatedOn": wcf_date(change.at, offset=True),
        "OperationId": str(uuid.uuid4()),
        "OrganizationId": environment.organization_id,
        "OrganizationName": environment.name,
        "OutputParameters": [{"key": "id", "value": change.row_id}] if change.operation == "Create" else [],
        "OwningExtension": {
            "Id": step["sdkmessageprocessingstepid"],
            "KeyAttributes": [],
            "LogicalName": "sdkmessageprocessingstep",
            "Name": f"{step['message']} of {step['table']}: Leadline webhook",
            "RowVersion": None,
        },
        "ParentContext": None,
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": change.row_id,
        "PrimaryEntityName": change.table,
        "RequestId": str(uuid.uuid4()),
        "SecondaryEntityName": "none",
        "SharedVariables": [{"key": "IsAutoTransact", "value": True}, {"key": "AcceptLang", "value": ""}],
        "Stage": step["stage"],
        "UserAzureActiveDirectoryObjectId": object_id,
        "UserId": change.by_user,
    }


# --- delivery ----------------------------------------------------------------------------------------------------
def deliver(environment: Environment, step: dict[str, Any], change: Change) -> None:
    context = execution_context(environment, step, change)
    headers = {
        "Content-Type": "application/json",
        "x-request-id": str(uuid.uuid4()),
        "x-ms-dynamics-organization": urlsplit(environment.url).netloc,
        "x-ms-dynamics-entity-name": change.table,
        "x-ms-dynamics-request-name": change.operation,
        "x-ms-correlation-request-id": context["CorrelationId"],
    }
    if step["header_name"]:
        headers[step["header_name"]] = step["header_value"]
    _attempt(environment, step, context, headers, attempt=1)


def _attempt(
    environment: Environment, step: dict[str, Any], context: dict[str, Any], headers: dict[str, str], *, attempt: int
) -> None:
    sandbox = environment.dynamics.sandbox
    if sandbox.sender.stopped:
        return
    timeout = float(sandbox.config.dv_webhook_timeout_seconds)

    def done(sent: Delivery) -> None:
        succeeded = sent.status is not None and 200 <= sent.status < 300
        record = {
            "serviceendpointid": step["serviceendpointid"],
            "url": step["url"],
            "attempt": attempt,
            "status": sent.status,
            "error": sent.error,
            "ok": succeeded,
            "operation_id": context["OperationId"],
            "message": context["MessageName"],
            "table": context["PrimaryEntityName"],
            "record_id": context["PrimaryEntityId"],
            "user_id": context["UserId"],
            "headers": {name: value for name, value in headers.items() if name != step["header_name"]},
            "body": context,
            "at": sandbox.clock.now().isoformat(),
        }
        with environment.lock:
            deliveries = webhook_deliveries(environment)
            deliveries.append(record)
            del deliveries[:-DELIVERIES_KEPT]
        if succeeded or sent.status not in RETRIED_STATUSES or attempt >= int(sandbox.config.dv_webhook_max_attempts):
            return
        wait = float(sandbox.config.dv_webhook_retry_seconds) * (2 ** (attempt - 1))
        timer = threading.Timer(wait, _attempt, (environment, step, context, headers), {"attempt": attempt + 1})
        timer.daemon = True
        timer.start()

    sandbox.sender.submit(
        kind="dynamics.webhook",
        method="POST",
        url=step["url"],
        headers=headers,
        json=context,
        timeout=(5, timeout),
        on_done=done,
    )
