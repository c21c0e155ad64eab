"""Notifications channels: WatchState (create, change, list and remove channels) and the callbacks they send."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.zoho_crm.bulk.criteria import field_name
from sandbox.zoho_crm.bulk.ids import module_id, org_prefix
from sandbox.zoho_crm.notifications.validation import (
    invalid,
    not_subscribed,
    parse_boolean,
    parse_channel_id,
    parse_conditions,
    parse_events,
    parse_notify_url,
    parse_token,
)
from sandbox.zoho_crm.store import format_zoho_datetime, parse_zoho_datetime

if TYPE_CHECKING:
    from sandbox.state import SandboxState
    from sandbox.zoho_crm.orgs import ZohoOrg
    from sandbox.zoho_crm.store import ChangeEvent

STORE_TO_EVENT = {"insert": "create", "update": "edit", "delete": "delete"}
MESSAGES = {
    "POST": "Successfully subscribed for actions-watch of the given module",
    "PUT": "Successfully updated the subscribe details",
    "PATCH": "Successfully updated the subscribe details",
    "REMOVE": "Successfully removed the subscribe details",
    "DELETE": "Successfully un-subscribed from actions-watch",
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
            if operation not in channel.events.get(event.kind, set()):
                continue
            ids = list(event.ids)
            condition = channel.conditions.get(event.kind)
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
                "module": event.kind,
                "resource_uri": f"{channel.api_base}/crm/v8/{event.kind}",
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
            raise invalid("watch", path, expected_data_type="jsonobject")
        channel_id = parse_channel_id(item, path)
        now = self.sandbox.clock.now()
        with self._lock:
            existing = self.get(org.org_id, channel_id)
            if method in ("PUT", "PATCH") and existing is None:
                raise not_subscribed(channel_id, f"{path}.channel_id")
            removing = item.get("_delete_events")
            if removing is not None and not isinstance(removing, bool):
                raise invalid("_delete_events", f"{path}._delete_events", expected_data_type="boolean")
            removing = bool(removing) and method == "PATCH"
            # The v8 OAS marks notify_url and events mandatory for POST, PUT and PATCH alike; removing events
            # (PATCH with _delete_events) needs only the channel and the events.
            notify_url = parse_notify_url(item, path, required=not removing)
            events = parse_events(org, item, path, required=True)
            token = parse_token(item, path)
            flags = {
                name: parse_boolean(item, name, path)
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
                given = parse_conditions(item.get("notification_condition"), set(new_events), path)
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
                raise not_subscribed(channel_id, f"$.channel_ids[{index}]")
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
            raise invalid("channel_expiry", path, expected_data_type="datetime")
        try:
            moment = parse_zoho_datetime(value.replace(" ", "+"))
        except ValueError:
            raise invalid("channel_expiry", path, expected_data_type="datetime") from None
        if moment.tzinfo is None:
            raise invalid("channel_expiry", path, expected_data_type="datetime")
        if moment <= now:
            raise invalid("channel_expiry", path)
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


def selection_matches(node: dict[str, Any], changed: set[str]) -> bool:
    """Does a change of these fields satisfy the field_selection (or: any listed field; and: all of them)?"""
    if isinstance(node.get("group"), list):
        results = [selection_matches(child, changed) for child in node["group"]]
        return all(results) if str(node.get("group_operator")).lower() == "and" else any(results)
    return field_name(node) in changed


def _listed_selection(org: ZohoOrg, module: str, node: dict[str, Any]) -> dict[str, Any]:
    """A field_selection as GET lists it: fields as {api_name, id}, group/group_operator null on leaves."""
    if isinstance(node.get("group"), list):
        return {
            "group_operator": str(node.get("group_operator")).lower(),
            "group": [_listed_selection(org, module, child) for child in node["group"]],
        }
    name = field_name(node) or ""
    return {"field": {"api_name": name, "id": _field_id(org, module, name)}, "group_operator": None, "group": None}


def _field_id(org: ZohoOrg, module: str, name: str) -> str:
    for meta in org.fields.get(module, []):
        if isinstance(meta, dict) and meta.get("api_name") == name and meta.get("id"):
            return str(meta["id"])
    return f"{org_prefix(org)}{500 + sum(ord(char) for char in module + name) % 9000:012d}"
