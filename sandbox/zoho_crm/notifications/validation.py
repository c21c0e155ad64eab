"""Notifications request validation: one watch item's fields, and the per-item WatchError shape."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.zoho_crm.bulk.criteria import field_name

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg

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
TOKEN_MAX_LENGTH = 50
FIELD_SELECTION_MAX = 10


class WatchError(Exception):
    """One item's error, in the per-item shape of the watch[] envelopes."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = {"code": code, "details": details, "message": message, "status": "error"}


def invalid(api_name: str, path: str, **extra: Any) -> WatchError:
    return WatchError("INVALID_DATA", "invalid data", {"api_name": api_name, "json_path": path, **extra})


def missing(api_name: str, path: str) -> WatchError:
    return WatchError("MANDATORY_NOT_FOUND", "required field not found", {"api_name": api_name, "json_path": path})


def not_subscribed(channel_id: str, path: str) -> WatchError:
    return WatchError(
        "NOT_SUBSCRIBED",
        "Not subscribed for actions-watch of the given channel",
        {"api_name": "channel_id", "json_path": path, "channel_id": channel_id},
    )


def parse_channel_id(item: dict[str, Any], path: str) -> str:
    value = item.get("channel_id")
    if value is None or value == "":
        raise missing("channel_id", f"{path}.channel_id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise invalid("channel_id", f"{path}.channel_id", expected_data_type="long")
    if int(value) > 2**63 - 1:
        raise invalid("channel_id", f"{path}.channel_id", expected_data_type="long")
    return str(int(value))


def parse_notify_url(item: dict[str, Any], path: str, *, required: bool) -> str | None:
    value = item.get("notify_url")
    if value is None or value == "":
        if required:
            raise missing("notify_url", f"{path}.notify_url")
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")) or len(value) > 255:
        raise invalid("notify_url", f"{path}.notify_url")
    return value


def parse_events(org: ZohoOrg, item: dict[str, Any], path: str, *, required: bool) -> dict[str, set[str]]:
    value = item.get("events")
    if value is None or value == []:
        if required:
            raise missing("events", f"{path}.events")
        return {}
    if not isinstance(value, list):
        raise invalid("events", f"{path}.events", expected_data_type="jsonarray")
    events: dict[str, set[str]] = {}
    for position, name in enumerate(value):
        where = f"{path}.events[{position}]"
        if not isinstance(name, str) or "." not in name:
            raise invalid("events", where)
        module, operation = name.rsplit(".", 1)
        if not _watchable(org, module) or operation not in (*EVENT_OPERATIONS, "all"):
            raise invalid("events", where)
        events.setdefault(module, set()).update(EVENT_OPERATIONS if operation == "all" else (operation,))
    return events


def _watchable(org: ZohoOrg, module: str) -> bool:
    if module in NOT_WATCHABLE:
        return False
    return module in WATCHABLE_MODULES or org.module(module) is not None


def parse_token(item: dict[str, Any], path: str) -> str | None:
    value = item.get("token")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > TOKEN_MAX_LENGTH:
        raise invalid("token", f"{path}.token", maximum_length=TOKEN_MAX_LENGTH)
    return value


def parse_boolean(item: dict[str, Any], name: str, path: str) -> bool | None:
    value = item.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(name, f"{path}.{name}", expected_data_type="boolean")
    return value


def parse_conditions(value: Any, modules: set[str], path: str) -> dict[str, dict[str, Any]]:
    """Validate notification_condition (OAS error examples) into {module: field_selection}."""
    if value is None:
        return {}
    where = f"{path}.notification_condition"
    if not isinstance(value, list):
        raise invalid("notification_condition", where)
    conditions: dict[str, dict[str, Any]] = {}
    for position, condition in enumerate(value):
        here = f"{where}[{position}]"
        if not isinstance(condition, dict):
            raise invalid("notification_condition", where)
        if "type" not in condition:
            raise missing("type", f"{here}.type")
        if condition["type"] != "field_selection":
            raise invalid("type", f"{here}.type", supported_values=["field_selection"])
        module = condition.get("module")
        if not isinstance(module, dict):
            raise invalid("module", f"{here}.module", expected_data_type="jsonobject")
        name = module.get("api_name")
        if name not in modules:
            raise invalid("module", f"{here}.module")
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
            raise invalid("field_selection", f"{here}.field_selection", expected_data_type="jsonobject")
        _check_selection(selection, f"{here}.field_selection")
        if len(_selection_fields(selection)) > FIELD_SELECTION_MAX:
            raise invalid("field_selection", f"{here}.field_selection", maximum_length=FIELD_SELECTION_MAX)
        conditions[name] = selection
    return conditions


def _check_selection(node: dict[str, Any], where: str) -> None:
    if "group" in node or "group_operator" in node:
        operator = node.get("group_operator")
        if operator is None:
            raise missing("group_operator", f"{where}.group_operator")
        if not isinstance(operator, str):
            raise invalid("group_operator", f"{where}.group_operator", expected_data_type="text")
        if operator.lower() not in ("and", "or"):
            raise invalid("group_operator", f"{where}.group_operator", supported_values=["or", "and"])
        group = node.get("group")
        if not isinstance(group, list) or not group:
            raise missing("group", f"{where}.group")
        for position, child in enumerate(group):
            if not isinstance(child, dict):
                raise invalid("group", f"{where}.group[{position}]")
            _check_selection(child, f"{where}.group[{position}]")
        return
    if field_name(node) is None:
        raise missing("field", f"{where}.field")


def _selection_fields(node: dict[str, Any]) -> list[str]:
    if isinstance(node.get("group"), list):
        return [name for child in node["group"] for name in _selection_fields(child)]
    name = field_name(node)
    return [name] if name else []
