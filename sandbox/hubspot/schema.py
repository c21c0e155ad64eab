"""Property definitions (what the properties API lists) and how property values are checked and written.

Every portal starts with HubSpot's standard properties of each object type (a realistic subset) and may get
custom ones (the properties API's create, or a world's seed: the demo portal's `leadline_sms_opt_out`). A
definition is the properties API's JSON: name, label, type (data type: string, number, date, datetime,
enumeration, bool), fieldType (UI: text, textarea, select, radio, checkbox, booleancheckbox, number, date,
phonenumber (UNCONFIRMED name), calculation_equation), groupName, options, hasUniqueValue, hidden, calculated,
hubspotDefined, modificationMetadata {archivable, readOnlyDefinition, readOnlyValue, readOnlyOptions}, ...

Values are always strings in HubSpot's answers: `clean_value` turns what a client sent into that text (bools
"true"/"false", numbers without a needless ".0", datetimes as ISO text with milliseconds and "Z", dates
"YYYY-MM-DD") or says why not in HubSpot's per-property error shape {isValid, message, error, name}. An empty
string (or null) clears a value. Writing an unknown property answers PROPERTY_DOESNT_EXIST, a read-only one
READ_ONLY_VALUE.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

STANDARD_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "tasks": "task",
    "notes": "note",
    "communications": "communication",
}
LIFECYCLE_STAGES = (
    ("Subscriber", "subscriber"),
    ("Lead", "lead"),
    ("Marketing Qualified Lead", "marketingqualifiedlead"),
    ("Sales Qualified Lead", "salesqualifiedlead"),
    ("Opportunity", "opportunity"),
    ("Customer", "customer"),
    ("Evangelist", "evangelist"),
    ("Other", "other"),
)
LEAD_STATUSES = tuple(
    (value.replace("_", " ").title(), value)
    for value in ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED")
)
DEAL_STAGES = tuple(
    (value.title(), value)
    for value in (
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    )
)
TASK_STATUSES = tuple(
    (value.replace("_", " ").title(), value)
    for value in ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
)
TASK_PRIORITIES = tuple((value.title(), value) for value in ("NONE", "LOW", "MEDIUM", "HIGH"))
TASK_TYPES = tuple((value.title(), value) for value in ("CALL", "EMAIL", "TODO"))
# UNCONFIRMED enum (docs/vendors/hubspot.md): SMS is the one Leadline writes.
CHANNEL_TYPES = tuple(
    (value.replace("_", " ").title(), value)
    for value in ("SMS", "WHATS_APP", "LINKEDIN_MESSAGE", "PHYSICAL_MAIL", "CUSTOM_CHANNEL_CONVERSATION")
)
LOGGED_FROM = (("CRM", "CRM"),)
BOOL_OPTIONS = (("Yes", "true"), ("No", "false"))
EPOCH = "2019-08-06T02:41:08.000Z"  # when HubSpot's standard properties say they were made


def iso_ms(moment: datetime) -> str:
    """HubSpot's datetime text: UTC, milliseconds, "Z" ("2026-12-07T17:24:11.123Z")."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """ISO text (with "Z" or an offset; a bare date is midnight UTC) -> an aware datetime."""
    value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def options_json(options: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"label": label, "value": value, "displayOrder": order, "hidden": False, "description": ""}
        for order, (label, value) in enumerate(options)
    ]


def definition(
    name: str,
    label: str,
    type_: str = "string",
    field_type: str = "text",
    *,
    group: str,
    options: tuple[tuple[str, str], ...] = (),
    unique: bool = False,
    read_only: bool = False,
    calculated: bool = False,
    hidden: bool = False,
    hubspot_defined: bool = True,
    created_at: str = EPOCH,
    display_order: int = -1,
    description: str = "",
) -> dict[str, Any]:
    """One property as the properties API answers it."""
    return {
        "updatedAt": created_at,
        "createdAt": created_at,
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": description,
        "groupName": group,
        "options": options_json(options),
        "displayOrder": display_order,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": hidden,
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
            "readOnlyOptions": False if options else None,
        },
        "formField": not read_only and not hidden,
        "dataSensitivity": "non_sensitive",
        "archived": False,
    }


def _system(object_type: str, created: str, modified: str) -> list[dict[str, Any]]:
    group = STANDARD_GROUPS[object_type]
    found = [
        definition("hs_object_id", "Record ID", "number", "number", group=group, read_only=True),
        definition(created, "Create Date", "datetime", "date", group=group, read_only=True),
        definition(modified, "Last Modified Date", "datetime", "date", group=group, read_only=True),
        definition("hs_merged_object_ids", "Merged record IDs", "enumeration", "checkbox", group=group, read_only=True),
        definition("hubspot_owner_id", "Owner", "enumeration", "select", group=group),
    ]
    if created != "hs_createdate":
        found.append(
            definition(
                "hs_createdate", "Object create date", "datetime", "date", group=group, read_only=True, hidden=True
            )
        )
    return found


def standard_properties(object_type: str) -> list[dict[str, Any]]:
    """HubSpot's own properties of an object type (a realistic subset of the real lists)."""
    from sandbox.hubspot.catalog import OBJECT_TYPES

    kind = OBJECT_TYPES[object_type]
    group = STANDARD_GROUPS[object_type]
    found = _system(object_type, kind.created_property, kind.modified_property)
    text = [("string", "text")]
    if object_type == "contacts":
        for name, label in (
            ("email", "Email"),
            ("firstname", "First Name"),
            ("lastname", "Last Name"),
            ("company", "Company Name"),
            ("jobtitle", "Job Title"),
            ("city", "City"),
            ("state", "State/Region"),
            ("zip", "Postal Code"),
            ("address", "Street Address"),
            ("website", "Website URL"),
        ):
            found.append(definition(name, label, *text[0], group=group))
        for name, label in (("phone", "Phone Number"), ("mobilephone", "Mobile Phone Number"), ("fax", "Fax Number")):
            found.append(definition(name, label, "string", "phonenumber", group=group))
        found += [
            definition(
                "lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group=group, options=LIFECYCLE_STAGES
            ),
            definition(
                "hs_lead_status", "Lead Status", "enumeration", "radio", group="sales_properties", options=LEAD_STATUSES
            ),
            definition("associatedcompanyid", "Primary Associated Company ID", "number", "number", group=group),
            definition("hs_email_domain", "Email Domain", group=group, read_only=True, calculated=True),
        ]
    elif object_type == "companies":
        for name, label in (
            ("name", "Company name"),
            ("domain", "Company Domain Name"),
            ("city", "City"),
            ("state", "State/Region"),
            ("industry", "Industry"),
        ):
            found.append(definition(name, label, group=group))
        found += [
            definition("phone", "Phone Number", "string", "phonenumber", group=group),
            definition("numberofemployees", "Number of Employees", "number", "number", group=group),
        ]
    elif object_type == "deals":
        found += [
            definition("dealname", "Deal Name", group=group),
            definition("amount", "Amount", "number", "number", group=group),
            definition("dealstage", "Deal Stage", "enumeration", "radio", group=group, options=DEAL_STAGES),
            definition(
                "pipeline", "Pipeline", "enumeration", "select", group=group, options=(("Sales Pipeline", "default"),)
            ),
            definition("closedate", "Close Date", "datetime", "date", group=group),
        ]
    else:
        found.append(definition("hs_timestamp", "Activity date", "datetime", "date", group=group))
        if object_type == "tasks":
            found += [
                definition("hs_task_subject", "Task Title", group=group),
                definition("hs_task_body", "Task notes", "string", "html", group=group),
                definition(
                    "hs_task_status", "Task Status", "enumeration", "select", group=group, options=TASK_STATUSES
                ),
                definition(
                    "hs_task_priority", "Priority", "enumeration", "select", group=group, options=TASK_PRIORITIES
                ),
                definition("hs_task_type", "Task Type", "enumeration", "select", group=group, options=TASK_TYPES),
            ]
        elif object_type == "notes":
            found.append(definition("hs_note_body", "Note body", "string", "html", group=group))
        else:
            found += [
                definition(
                    "hs_communication_channel_type",
                    "Channel type",
                    "enumeration",
                    "select",
                    group=group,
                    options=CHANNEL_TYPES,
                ),
                definition(
                    "hs_communication_logged_from",
                    "Logged from",
                    "enumeration",
                    "select",
                    group=group,
                    options=LOGGED_FROM,
                ),
                definition("hs_communication_body", "Body", "string", "html", group=group),
            ]
    for order, item in enumerate(found):
        item["displayOrder"] = order if not item["modificationMetadata"]["readOnlyValue"] else -1
    return found


# --- values --------------------------------------------------------------------------------------------------
def property_error(name: str, error: str, message: str) -> dict[str, Any]:
    """One property's problem, in the shape HubSpot lists inside VALIDATION_ERROR messages."""
    return {"isValid": False, "message": message, "error": error, "name": name, "localizedErrorMessage": message}


def _number_text(value: Any) -> str | None:
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return str(int(number)) if number.is_integer() and "e" not in str(value).lower() else str(value).strip()


def _datetime_text(value: Any, *, date_only: bool) -> str | None:
    text = str(value).strip()
    try:
        if text.lstrip("-").isdigit():
            moment = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        else:
            moment = parse_iso(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.date().isoformat() if date_only else iso_ms(moment)


def clean_value(meta: dict[str, Any], value: Any, *, owner_ids: set[str] | None = None) -> tuple[str, dict | None]:
    """(the stored text, None) or ("", a property error). "" or None clears whatever the type."""
    name = meta["name"]
    if value is None or value == "":
        return "", None
    kind = meta["type"]
    if kind == "bool":
        text = str(value).strip().lower()
        if isinstance(value, bool):
            text = "true" if value else "false"
        if text in ("true", "false"):
            return text, None
        return "", property_error(
            name, "INVALID_OPTION", f'"{value}" was not one of the allowed options: [true, false]'
        )
    if kind == "number":
        text = _number_text(value)
        if text is None:
            return "", property_error(name, "INVALID_DECIMAL", f"{value} was not a valid number.")
        return text, None
    if kind in ("datetime", "date"):
        text = _datetime_text(value, date_only=kind == "date")
        if text is None:
            return "", property_error(name, "INVALID_DATE", f"{value} was not a valid date or datetime.")
        return text, None
    if kind == "enumeration":
        text = str(value)
        if name == "hubspot_owner_id":
            if owner_ids is not None and text not in owner_ids:
                return "", property_error(name, "INVALID_OWNER_ID", f"{text} is not a valid owner id")
            return text, None
        allowed = [option["value"] for option in meta.get("options") or []]
        if not allowed:  # a read-only checkbox such as hs_merged_object_ids, or a custom list without options
            return text, None
        chosen = text.split(";") if meta.get("fieldType") == "checkbox" else [text]
        bad = [item for item in chosen if item not in allowed]
        if bad:
            return "", property_error(
                name, "INVALID_OPTION", f"{bad[0]} was not one of the allowed options: [{', '.join(allowed)}]"
            )
        return text, None
    return value if isinstance(value, str) else str(value), None


def check_properties(
    definitions: dict[str, dict[str, Any]],
    values: dict[str, Any],
    *,
    owner_ids: set[str] | None = None,
    allow_read_only: bool = False,
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(clean values, property errors) for values a client wants to write."""
    clean: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, value in (values or {}).items():
        meta = definitions.get(name)
        if meta is None or meta.get("archived"):
            errors.append(property_error(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'))
            continue
        if meta["modificationMetadata"]["readOnlyValue"] and not allow_read_only:
            errors.append(
                property_error(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
            )
            continue
        text, problem = clean_value(meta, value, owner_ids=owner_ids)
        if problem is not None:
            errors.append(problem)
        else:
            clean[name] = text
    return clean, errors
