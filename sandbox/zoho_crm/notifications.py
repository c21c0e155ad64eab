"""Notifications ("watch" channels): `POST/PATCH/PUT/GET/DELETE /crm/v8/actions/watch` and the callbacks.

A channel belongs to an org and is keyed by the client's own `channel_id` (a long). It subscribes to
`<Module>.create|edit|delete|all` events, may carry a `field_selection` condition per module (fire only when
those fields changed), a `token` (<= 50 chars) echoed in every callback, and expires: a missing expiry, or one
beyond `config.channel_max_expiry_hours`, becomes `config.channel_default_expiry_hours` from now (Kaizen #14 /
the v2-v3 docs: "If it is not specified or set for more than a day, the default expiry time is for one hour").
An expired channel stops firing and disappears; it must be re-created (PATCH answers NOT_SUBSCRIBED).

`WatchState.handle(org, event)` runs for every record change and queues one POST per matching channel to its
`notify_url` (query params kept) through the sandbox's asynchronous sender, with the api-facts A7 payload:
`server_time, query_params, module, resource_uri, ids, affected_fields (only with return_affected_field_values),
operation (insert|update|delete), channel_id, token`. That payload shape is UNCONFIRMED (A7: recalled, not
retrieved); it is kept exactly as A7 writes it. Nothing is signed: the token is the only proof, as with Zoho.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content, request_json
from sandbox.zoho_crm.bulk import module_id, org_prefix
from sandbox.zoho_crm.store import format_zoho_datetime, parse_zoho_datetime

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg
    from sandbox.zoho_crm.store import ChangeEvent

# The modules Zoho's docs list as supported (API names), plus any custom module the org has.
WATCHABLE_MODULES = frozenset(
    {
        "Leads",
        "Accounts",
        "Contacts",
        "Deals",
        "Campaigns",
        "Tasks",
        "Cases",
        "Events",
        "Calls",
        "Solutions",
        "Products",
        "Vendors",
        "Price_Books",
        "Quotes",
        "Sales_Orders",
        "Purchase_Orders",
        "Invoices",
        "Appointments__s",
        "Services__s",
    }
)
NOT_WATCHABLE = frozenset({"Notes", "Attachments", "Users", "Activities", "Emails"})
EVENT_OPERATIONS = ("create", "edit", "delete")
STORE_TO_EVENT = {"insert": "create", "update": "edit", "delete": "delete"}
TOKEN_MAX_LENGTH = 50
FIELD_SELECTION_MAX = 10
MAX_ITEMS = 50
MESSAGES = {
    "POST": "Successfully subscribed for actions-watch of the given module",
    "PUT": "Successfully updated the subscribe details",
    "PATCH": "Successfully updated the subscribe details",
    "REMOVE": "Successfully removed the subscribe details",
    "DELETE": "Successfully un-subscribed from actions-watch",
}
SCOPES = {
    "GET": "ZohoCRM.notifications.READ",
    "POST": "ZohoCRM.notifications.CREATE",
    "PUT": "ZohoCRM.notifications.UPDATE",
    "PATCH": "ZohoCRM.notifications.UPDATE",
    "DELETE": "ZohoCRM.notifications.DELETE",
}


@dataclass
class Channel:
    org_id: str
    channel_id: str
    notify_url: str
    expiry: datetime
    api_base: str  # where resource_uri points: the host the channel was created through
    token: str | None = None
    events: dict[str, set[str]] = field(default_factory=dict)  # module -> {"create", "edit", "delete"}
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)  # module -> field_selection
    return_affected_field_values: bool = False
    notify_on_related_action: bool = False
    fields: Any = None
    created_order: int = 0


class WatchError(Exception):
    """One item's error, in the per-item shape of the watch[] envelopes."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = {"code": code, "details": details, "message": message, "status": "error"}


def _invalid(api_name: str, path: str, **extra: Any) -> WatchError:
    return WatchError("INVALID_DATA", "invalid data", {"api_name": api_name, "json_path": path, **extra})


def _missing(api_name: str, path: str) -> WatchError:
    return WatchError("MANDATORY_NOT_FOUND", "required field not found", {"api_name": api_name, "json_path": path})


def _not_subscribed(channel_id: str, path: str) -> WatchError:
    return WatchError(
        "NOT_SUBSCRIBED",
        "Not subscribed for actions-watch of the given channel",
        {"api_name": "channel_id", "json_path": path, "channel_id": channel_id},
    )


class WatchState:
    def __init__(self, sandbox: SandboxState) -> None:
        self.sandbox = sandbox
        self.channels: dict[tuple[str, str], Channel] = {}
        self._lock = threading.RLock()
        self._order = 0

    # --- reading ------------------------------------------------------------------------------------------
    def live(self, org_id: str) -> list[Channel]:
        """The org's channels that have not expired (expired ones are dropped on the way)."""
        now = self.sandbox.clock.now()
        with self._lock:
            for key in [key for key, channel in self.channels.items() if channel.expiry <= now]:
                del self.channels[key]
            return sorted(
                (channel for channel in self.channels.values() if channel.org_id == org_id),
                key=lambda channel: channel.created_order,
            )

    def get(self, org_id: str, channel_id: str) -> Channel | None:
        return next((channel for channel in self.live(org_id) if channel.channel_id == channel_id), None)

    # --- callbacks ----------------------------------------------------------------------------------------
    def handle(self, org: ZohoOrg, event: ChangeEvent) -> None:
        operation = STORE_TO_EVENT.get(event.operation)
        if operation is None:
            return
        server_time = int(self.sandbox.clock.timestamp() * 1000)
        for channel in self.live(org.org_id):
            if operation not in channel.events.get(event.module, set()):
                continue
            ids = list(event.ids)
            condition = channel.conditions.get(event.module)
            if condition is not None and operation != "delete":
                ids = [
                    record_id
                    for record_id in ids
                    if selection_matches(condition, set(event.affected_fields.get(record_id, ())))
                ]
            if not ids:
                continue
            payload: dict[str, Any] = {
                "server_time": server_time,
                "query_params": dict(parse_qsl(urlsplit(channel.notify_url).query, keep_blank_values=True)),
                "module": event.module,
                "resource_uri": f"{channel.api_base}/crm/v8/{event.module}",
                "ids": ids,
            }
            if channel.return_affected_field_values and operation != "delete":
                payload["affected_fields"] = [
                    {record_id: list(event.affected_fields.get(record_id, ()))} for record_id in ids
                ]
            payload["operation"] = event.operation
            payload["channel_id"] = channel.channel_id
            payload["token"] = channel.token
            self.sandbox.sender.submit(kind="zoho_notification", method="POST", url=channel.notify_url, json=payload)

    # --- writing ------------------------------------------------------------------------------------------
    def apply(self, org: ZohoOrg, method: str, index: int, item: Any, api_base: str) -> dict[str, Any]:
        """Create (POST), replace (PUT) or modify (PATCH) one channel; returns the item's success body."""
        path = f"$.watch[{index}]"
        if not isinstance(item, dict):
            raise _invalid("watch", path, expected_data_type="jsonobject")
        channel_id = _channel_id(item, path)
        now = self.sandbox.clock.now()
        with self._lock:
            existing = self.get(org.org_id, channel_id)
            if method in ("PUT", "PATCH") and existing is None:
                raise _not_subscribed(channel_id, f"{path}.channel_id")
            removing = item.get("_delete_events")
            if removing is not None and not isinstance(removing, bool):
                raise _invalid("_delete_events", f"{path}._delete_events", expected_data_type="boolean")
            removing = bool(removing) and method == "PATCH"
            # The v8 OAS marks notify_url and events mandatory for POST, PUT and PATCH alike; removing events
            # (PATCH with _delete_events) needs only the channel and the events.
            notify_url = _notify_url(item, path, required=not removing)
            events = _events(org, item, path, required=True)
            token = _token(item, path)
            flags = {
                name: _boolean(item, name, path)
                for name in ("return_affected_field_values", "notify_on_related_action")
            }
            expiry = self._expiry(item.get("channel_expiry"), now, f"{path}.channel_expiry")
            fresh = existing is None or method == "PUT"
            # Everything is validated before the channel changes: a refused item leaves it as it was.
            new_events = {} if fresh else {module: set(operations) for module, operations in existing.events.items()}
            for module, operations in events.items():
                if removing:
                    remaining = new_events.get(module, set()) - operations
                    if remaining:
                        new_events[module] = remaining
                    else:
                        new_events.pop(module, None)
                elif method == "POST":
                    new_events[module] = new_events.get(module, set()) | operations
                else:
                    new_events[module] = operations
            conditions = {} if fresh else dict(existing.conditions)
            if "notification_condition" in item:
                given = _conditions(item.get("notification_condition"), set(new_events), path)
                conditions = {**conditions, **given} if method == "PATCH" else given
            if fresh:
                channel = Channel(
                    org_id=org.org_id,
                    channel_id=channel_id,
                    notify_url=notify_url or "",
                    expiry=expiry,
                    api_base=api_base,
                    created_order=existing.created_order if existing else self._next_order(),
                )
            else:
                channel = existing
                if "channel_expiry" in item or method == "POST":
                    channel.expiry = expiry
                if notify_url:
                    channel.notify_url = notify_url
            touched = set(events)
            channel.events = new_events
            channel.conditions = {module: cond for module, cond in conditions.items() if module in new_events}
            if "token" in item or fresh:
                channel.token = token
            for name, value in flags.items():
                if value is not None:
                    setattr(channel, name, value)
            if "fields" in item:
                channel.fields = item["fields"]
            if channel.events:
                self.channels[(org.org_id, channel_id)] = channel
            else:
                self.channels.pop((org.org_id, channel_id), None)
        message = MESSAGES["REMOVE" if removing else method]
        modules = sorted(touched) if removing else sorted(channel.events)
        return {
            "code": "SUCCESS",
            "details": {"events": [self._event_detail(org, channel, module) for module in modules]},
            "message": message,
            "status": "success",
        }

    def remove(self, org: ZohoOrg, channel_id: str, index: int) -> list[dict[str, Any]]:
        with self._lock:
            channel = self.get(org.org_id, channel_id)
            if channel is None:
                raise _not_subscribed(channel_id, f"$.channel_ids[{index}]")
            del self.channels[(org.org_id, channel_id)]
        return [
            {
                "code": "SUCCESS",
                "details": {
                    "resource_uri": f"{channel.api_base}/crm/v8/{module}",
                    "resource_id": module_id(module, org_prefix(org)),
                    "channel_id": channel.channel_id,
                },
                "message": MESSAGES["DELETE"],
                "status": "success",
            }
            for module in sorted(channel.events)
        ]

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    def _expiry(self, value: Any, now: datetime, path: str) -> datetime:
        config = self.sandbox.config
        default = now + timedelta(hours=config.channel_default_expiry_hours)
        if value is None or value == "":
            return default
        if not isinstance(value, str):
            raise _invalid("channel_expiry", path, expected_data_type="datetime")
        try:
            moment = parse_zoho_datetime(value.replace(" ", "+"))
        except ValueError:
            raise _invalid("channel_expiry", path, expected_data_type="datetime") from None
        if moment.tzinfo is None:
            raise _invalid("channel_expiry", path, expected_data_type="datetime")
        if moment <= now:
            raise _invalid("channel_expiry", path)
        if moment > now + timedelta(hours=config.channel_max_expiry_hours):
            return default
        return moment.replace(microsecond=0)

    def _event_detail(self, org: ZohoOrg, channel: Channel, module: str) -> dict[str, Any]:
        return {
            "channel_expiry": format_zoho_datetime(channel.expiry, org.tz),
            "resource_uri": f"{channel.api_base}/crm/v8/{module}",
            "resource_id": module_id(module, org_prefix(org)),
            "resource_name": module,
            "channel_id": channel.channel_id,
        }

    def listing(self, org: ZohoOrg, channel: Channel, module: str) -> dict[str, Any]:
        """One (channel, module) entry of GET /actions/watch, as Zoho lists them."""
        condition = channel.conditions.get(module)
        return {
            "notify_on_related_action": channel.notify_on_related_action,
            "channel_expiry": format_zoho_datetime(channel.expiry, org.tz),
            "return_affected_field_values": channel.return_affected_field_values,
            "resource_uri": f"{channel.api_base}/crm/v8/{module}",
            "resource_id": module_id(module, org_prefix(org)),
            "notify_url": channel.notify_url,
            "resource_name": module,
            "fields": channel.fields,
            "notification_condition": (
                [
                    {
                        "field_selection": _listed_selection(org, module, condition),
                        "module": {"api_name": module, "id": module_id(module, org_prefix(org))},
                        "type": "field_selection",
                    }
                ]
                if condition
                else None
            ),
            "channel_id": channel.channel_id,
            "events": [
                f"{module}.{operation}"
                for operation in ("edit", "create", "delete")
                if operation in channel.events[module]
            ],
            "token": channel.token,
        }


# --- parsing one watch item -----------------------------------------------------------------------------------
def _channel_id(item: dict[str, Any], path: str) -> str:
    value = item.get("channel_id")
    if value is None or value == "":
        raise _missing("channel_id", f"{path}.channel_id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _invalid("channel_id", f"{path}.channel_id", expected_data_type="long")
    if int(value) > 2**63 - 1:
        raise _invalid("channel_id", f"{path}.channel_id", expected_data_type="long")
    return str(int(value))


def _notify_url(item: dict[str, Any], path: str, *, required: bool) -> str | None:
    value = item.get("notify_url")
    if value is None or value == "":
        if required:
            raise _missing("notify_url", f"{path}.notify_url")
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > 255:
        raise _invalid("notify_url", f"{path}.notify_url")
    return value


def _events(org: ZohoOrg, item: dict[str, Any], path: str, *, required: bool) -> dict[str, set[str]]:
    value = item.get("events")
    if value is None or value == []:
        if required:
            raise _missing("events", f"{path}.events")
        return {}
    if not isinstance(value, list):
        raise _invalid("events", f"{path}.events", expected_data_type="jsonarray")
    events: dict[str, set[str]] = {}
    for position, name in enumerate(value):
        where = f"{path}.events[{position}]"
        if not isinstance(name, str) or "." not in name:
            raise _invalid("events", where)
        module, operation = name.rsplit(".", 1)
        if not _watchable(org, module) or operation not in (*EVENT_OPERATIONS, "all"):
            raise _invalid("events", where)
        events.setdefault(module, set()).update(EVENT_OPERATIONS if operation == "all" else (operation,))
    return events


def _watchable(org: ZohoOrg, module: str) -> bool:
    if module in NOT_WATCHABLE:
        return False
    return module in WATCHABLE_MODULES or org.module(module) is not None


def _token(item: dict[str, Any], path: str) -> str | None:
    value = item.get("token")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TOKEN_MAX_LENGTH:
        raise _invalid("token", f"{path}.token", maximum_length=TOKEN_MAX_LENGTH)
    return value


def _boolean(item: dict[str, Any], name: str, path: str) -> bool | None:
    value = item.get(name)
    if value is not None and not isinstance(value, bool):
        raise _invalid(name, f"{path}.{name}", expected_data_type="boolean")
    return value


def _conditions(value: Any, modules: set[str], path: str) -> dict[str, dict[str, Any]]:
    """Validate notification_condition (OAS error examples) into {module: field_selection}."""
    if value is None:
        return {}
    where = f"{path}.notification_condition"
    if not isinstance(value, list):
        raise _invalid("notification_condition", where)
    conditions: dict[str, dict[str, Any]] = {}
    for position, condition in enumerate(value):
        here = f"{where}[{position}]"
        if not isinstance(condition, dict):
            raise _invalid("notification_condition", where)
        if "type" not in condition:
            raise _missing("type", f"{here}.type")
        if condition["type"] != "field_selection":
            raise _invalid("type", f"{here}.type", supported_values=["field_selection"])
        module = condition.get("module")
        if not isinstance(module, dict):
            raise _invalid("module", f"{here}.module", expected_data_type="jsonobject")
        name = module.get("api_name")
        if name not in modules:
            raise _invalid("module", f"{here}.module")
        selection = condition.get("field_selection")
        if selection is None:
            raise WatchError(
                "DEPENDENT_FIELD_MISSING",
                "DEPENDENT_FIELD_MISSING",
                {
                    "api_name": "field_selection",
                    "json_path": f"{here}.field_selection",
                    "dependee": {"api_name": "type", "json_path": f"{here}.type"},
                },
            )
        if not isinstance(selection, dict):
            raise _invalid("field_selection", f"{here}.field_selection", expected_data_type="jsonobject")
        _check_selection(selection, f"{here}.field_selection")
        if len(_selection_fields(selection)) > FIELD_SELECTION_MAX:
            raise _invalid("field_selection", f"{here}.field_selection", maximum_length=FIELD_SELECTION_MAX)
        conditions[name] = selection
    return conditions


def _check_selection(node: dict[str, Any], where: str) -> None:
    if "group" in node or "group_operator" in node:
        operator = node.get("group_operator")
        if operator is None:
            raise _missing("group_operator", f"{where}.group_operator")
        if not isinstance(operator, str):
            raise _invalid("group_operator", f"{where}.group_operator", expected_data_type="text")
        if operator.lower() not in ("and", "or"):
            raise _invalid("group_operator", f"{where}.group_operator", supported_values=["or", "and"])
        group = node.get("group")
        if not isinstance(group, list) or not group:
            raise _missing("group", f"{where}.group")
        for position, child in enumerate(group):
            if not isinstance(child, dict):
                raise _invalid("group", f"{where}.group[{position}]")
            _check_selection(child, f"{where}.group[{position}]")
        return
    if _field_name(node) is None:
        raise _missing("field", f"{where}.field")


def _field_name(node: dict[str, Any]) -> str | None:
    name = node.get("api_name")
    if name is None and isinstance(node.get("field"), dict):
        name = node["field"].get("api_name")
    return name if isinstance(name, str) and name else None


def _selection_fields(node: dict[str, Any]) -> list[str]:
    if isinstance(node.get("group"), list):
        return [name for child in node["group"] for name in _selection_fields(child)]
    name = _field_name(node)
    return [name] if name else []


def selection_matches(node: dict[str, Any], changed: set[str]) -> bool:
    """Does a change of these fields satisfy the field_selection (or: any listed field; and: all of them)?"""
    if isinstance(node.get("group"), list):
        results = [selection_matches(child, changed) for child in node["group"]]
        return all(results) if str(node.get("group_operator")).lower() == "and" else any(results)
    return _field_name(node) in changed


def _listed_selection(org: ZohoOrg, module: str, node: dict[str, Any]) -> dict[str, Any]:
    """A field_selection as GET lists it: fields as {api_name, id}, group/group_operator null on leaves."""
    if isinstance(node.get("group"), list):
        return {
            "group_operator": str(node.get("group_operator")).lower(),
            "group": [_listed_selection(org, module, child) for child in node["group"]],
        }
    name = _field_name(node) or ""
    return {"field": {"api_name": name, "id": _field_id(org, module, name)}, "group_operator": None, "group": None}


def _field_id(org: ZohoOrg, module: str, name: str) -> str:
    for meta in org.fields.get(module, []):
        if isinstance(meta, dict) and meta.get("api_name") == name and meta.get("id"):
            return str(meta["id"])
    return f"{org_prefix(org)}{500 + sum(ord(char) for char in module + name) % 9000:012d}"


# --- handlers ----------------------------------------------------------------------------------------------
def _rate_limited(refused: Response) -> Response:
    """The watch endpoints answer throttling with RATE_LIMIT_EXCEEDED (the OAS examples), not TOO_MANY_REQUESTS."""
    if refused.status_code == 429:
        return json_response(
            {"code": "RATE_LIMIT_EXCEEDED", "message": "Too many requests. Please try again later.", "status": "error"},
            429,
        )
    return refused


def _envelope(results: list[dict[str, Any]], success_status: int) -> Response:
    failed = sum(1 for result in results if result.get("status") == "error")
    if failed == 0:
        status = success_status
    elif failed == len(results):
        status = 400
    else:
        status = 207
    return json_response({"watch": results}, status)


def _error(code: str, message: str, details: dict[str, Any], status: int = 400) -> Response:
    return json_response({"code": code, "details": details, "message": message, "status": "error"}, status)


def watch(sandbox: SandboxState, request: Request) -> Response:
    found = sandbox.crm.authenticate(request, scope=SCOPES[request.method])
    if isinstance(found, Response):
        return found
    org, _user = found
    with org.calling() as refused:
        if refused:
            return _rate_limited(refused)
        refused = org.charge(1)
        if refused:
            return _rate_limited(refused)
        state = sandbox.crm.watch
        if request.method == "GET":
            return _list(state, org, request)
        if request.method == "DELETE":
            return _delete(state, org, request)
        body = request_json(request)
        items = body.get("watch") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _error(
                "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "watch", "json_path": "$.watch"}
            )
        if len(items) > MAX_ITEMS:
            return _error(
                "INVALID_DATA",
                "invalid data",
                {"api_name": "watch", "json_path": "$.watch", "maximum_length": MAX_ITEMS},
            )
        api_base = request.host_url.rstrip("/")
        results = []
        for index, item in enumerate(items):
            try:
                results.append(state.apply(org, request.method, index, item, api_base))
            except WatchError as exc:
                results.append(exc.body)
        return _envelope(results, 201 if request.method == "POST" else 200)


def _list(state: WatchState, org: ZohoOrg, request: Request) -> Response:
    try:
        page = max(int(request.args.get("page", 1)), 1)
        per_page = min(max(int(request.args.get("per_page", 200)), 1), 200)
    except ValueError:
        return _error("INVALID_DATA", "invalid data", {"api_name": "page", "json_path": "$.page"})
    wanted_channel = request.args.get("channel_id")
    wanted_module = request.args.get("module")
    entries = [
        state.listing(org, channel, module)
        for channel in state.live(org.org_id)
        if wanted_channel in (None, "", channel.channel_id)
        for module in sorted(channel.events)
        if wanted_module in (None, "", module)
    ]
    chunk = entries[(page - 1) * per_page : page * per_page]
    if not chunk:
        return no_content()
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": len(entries) > page * per_page}
    return json_response({"watch": chunk, "info": info})


def _delete(state: WatchState, org: ZohoOrg, request: Request) -> Response:
    raw = request.args.get("channel_ids", "")
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if not ids:
        return _error(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "channel_ids", "param": "channel_ids"},
        )
    results: list[dict[str, Any]] = []
    for index, channel_id in enumerate(ids):
        try:
            results.extend(state.remove(org, channel_id, index))
        except WatchError as exc:
            results.append(exc.body)
    return _envelope(results, 200)


ROUTES = [("/crm/v8/actions/watch", ["GET", "POST", "PUT", "PATCH", "DELETE"], watch)]
