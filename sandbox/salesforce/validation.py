"""Field rules for sObject writes: what the REST API refuses, in its words, and the values it keeps.

`check_values(org, sobject, values, *, creating, record=None) -> Checked` returns the cleaned values (datetimes
normalized to the API's text, ids to 18 characters, numbers as numbers) or the first problem as an
`ApiError(code, message, fields)`. Rules (REST API guide, Status Codes and Error Responses; the object
references; the messages as Salesforce writes them):
- an unknown field: INVALID_FIELD "No such column 'X' on sobject of type Lead";
- a field not createable (on create) or not updateable (on update), formula fields and system fields included:
  INVALID_FIELD_FOR_INSERT_UPDATE "Unable to create/update fields: A, B. Please check the security settings...";
- a required field missing on create, or cleared on update: REQUIRED_FIELD_MISSING "Required fields are
  missing: [LastName, Company]";
- wrong JSON types (a string for a boolean, text for a number or date): JSON_PARSER_ERROR;
- text longer than the field: STRING_TOO_LONG "Label: data value too large: ... (max length=N)";
- a bad email: INVALID_EMAIL_ADDRESS;
- a value outside a restricted picklist: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST "Label: bad value for
  restricted picklist field: V";
- a reference that is not an id: MALFORMED_ID; an id of an object the field cannot point to (a Task's WhoId must
  be a Lead or Contact, WhatId an Account or Opportunity): FIELD_INTEGRITY_EXCEPTION "Label: id value of
  incorrect type: V"; an id of no record: INVALID_CROSS_REFERENCE_KEY; of a deleted one: ENTITY_IS_DELETED;
- a validation rule of the org (`ValidationRule`, switched on and off by the control API) whose field the body
  sets: FIELD_CUSTOM_VALIDATION_EXCEPTION with the rule's own error message, naming the field its error is shown
  at; rules run after the field checks and before the unique check, as Salesforce's order of execution has them
  (system validation, then custom validation rules, then the save that enforces unique indexes);
- a unique field's value held by another live record: DUPLICATE_VALUE "duplicate value found: F duplicates
  value on record with id: ID".

`derive(org, sobject, record)` sets what Salesforce computes on save: Name from its parts, Task IsClosed /
IsHighPriority / CompletedDateTime / AccountId / WhoCount / WhatCount, Opportunity IsClosed / IsWon and the
formula `Expected_Revenue_Formula__c`, defaults of picklists (Lead Status, Task Status and Priority) and
checkboxes on create.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from sandbox.salesforce import ids
from sandbox.salesforce.state import format_sf_datetime, parse_sf_datetime

if TYPE_CHECKING:
    from sandbox.salesforce.state import SfOrg

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
READ_ONLY_HINT = (
    "Please check the security settings of this field and verify that it is read/write for your profile or "
    "permission set."
)
# References to objects the emulator does not store are taken on trust (any well-formed id).
UNSTORED_TARGETS = ("Individual", "Profile", "UserRole")


@dataclass
class ApiError(Exception):
    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def as_error(self) -> dict[str, Any]:
        """The REST API's error entry."""
        return {"message": self.message, "errorCode": self.code, "fields": list(self.fields)}

    def as_collection_error(self) -> dict[str, Any]:
        """An sObject Collections result's error entry (statusCode instead of errorCode)."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}


def _json_error(value: Any, kind: str) -> ApiError:
    shown = "VALUE_STRING" if isinstance(value, str) else "VALUE_" + type(value).__name__.upper()
    return ApiError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {shown} value {value} or request may be missing a required field",
    )


def coerce(org: SfOrg, meta: dict[str, Any], value: Any) -> Any:
    """One field's value as stored, or ApiError."""
    name, label, kind = meta["name"], meta["label"], meta["type"]
    if value is None:
        return False if kind == "boolean" else None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _json_error(value, "boolean")
    if kind in ("int", "double", "currency", "percent"):
        if isinstance(value, bool):
            raise _json_error(value, kind)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _json_error(value, kind) from None
        if not isinstance(value, int | float):
            raise _json_error(value, kind)
        return int(value) if kind == "int" else float(value) if not float(value).is_integer() else value
    if kind == "date":
        if not isinstance(value, str):
            raise _json_error(value, "date")
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise _json_error(value, "date") from None
    if kind == "datetime":
        if not isinstance(value, str):
            raise _json_error(value, "datetime")
        try:
            return format_sf_datetime(parse_sf_datetime(value), milliseconds=True)
        except ValueError:
            raise _json_error(value, "datetime") from None
    if kind == "reference":
        return _reference(org, meta, value)
    if kind in ("address", "location", "id"):
        raise ApiError(
            "INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}. {READ_ONLY_HINT}", [name]
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _json_error(value, "String")
    if meta["length"] and len(value) > meta["length"]:
        raise ApiError(
            "STRING_TOO_LONG", f"{label}: data value too large: {value[:80]} (max length={meta['length']})", [name]
        )
    if kind == "email" and value and not EMAIL.match(value):
        raise ApiError("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", [name])
    if kind in ("picklist", "multipicklist") and meta["restrictedPicklist"] and value:
        allowed = {entry["value"] for entry in meta["picklistValues"] if entry["active"]}
        chosen = value.split(";") if kind == "multipicklist" else [value]
        for item in chosen:
            if item not in allowed:
                raise ApiError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {item}",
                    [name],
                )
    return value


def _reference(org: SfOrg, meta: dict[str, Any], value: Any) -> str:
    name, label = meta["name"], meta["label"]
    normalized = ids.normalize(value) if isinstance(value, str) else None
    if normalized is None:
        raise ApiError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [name])
    target = ids.sobject_of(normalized)
    targets = meta["referenceTo"]
    if target is None:
        if any(name in UNSTORED_TARGETS for name in targets):
            return normalized
        raise ApiError("FIELD_INTEGRITY_EXCEPTION", f"{label}: id value of incorrect type: {value}", [name])
    if target not in targets:
        raise ApiError("FIELD_INTEGRITY_EXCEPTION", f"{label}: id value of incorrect type: {value}", [name])
    record = org.stores[target].get(normalized)
    if record is None or (target == "User" and not record.get("IsActive")):
        message = "invalid cross reference id" if target != "User" else "owner id value of incorrect type"
        raise ApiError("INVALID_CROSS_REFERENCE_KEY", f"{label}: {message}", [name])
    if record.get("IsDeleted"):
        raise ApiError("ENTITY_IS_DELETED", "entity is deleted", [name])
    return normalized


@dataclass(frozen=True)
class ValidationRule:
    """An org's validation rule, reduced to what tests need: refuse an API write of its sObject that sets `field`
    (to anything, on create too), with the message a Salesforce admin typed, shown at that field. Writes made as
    Salesforce itself or a person in Lightning (the control API, `trusted`) pass: the rule's formula would check
    the running user (`$User.Id`) or `$Api.Session_ID`, as admins write rules meant for integrations."""

    name: str
    sobject: str
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "sobject": self.sobject, "field": self.field, "message": self.message}


def rules_broken(org: SfOrg, sobject: str, values: dict[str, Any]) -> ApiError | None:
    """The first active validation rule of `sobject` the cleaned `values` break, as Salesforce's error."""
    for rule in org.validation_rules.get(sobject, ()):
        if rule.field in values:
            return ApiError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, [rule.field])
    return None


@dataclass
class Checked:
    values: dict[str, Any]


def check_values(
    org: SfOrg,
    sobject: str,
    values: Any,
    *,
    creating: bool,
    record: dict[str, Any] | None = None,
    allow: tuple[str, ...] = (),
    trusted: bool = False,
) -> Checked:
    """Clean a create or update body (see the module docstring); raises ApiError. `allow` names fields
    accepted although not writable; `trusted` (the control API, playing Salesforce itself: conversions, formula
    recalculations, data loads) writes read-only fields too."""
    if not isinstance(values, dict):
        raise ApiError("JSON_PARSER_ERROR", "The request body must be a JSON object")
    schema = org.schema[sobject]
    cleaned: dict[str, Any] = {}
    read_only: list[str] = []
    for key, value in values.items():
        if key == "attributes":
            continue
        meta = schema.field(key)
        if meta is None:
            raise ApiError("INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject}", [key])
        name = meta["name"]
        if name == "Id" and (creating or (record is not None and ids.normalize(value) == record["Id"])):
            continue  # an insert's Id is refused by its caller; an update may repeat its own
        writable = meta["createable"] if creating else meta["updateable"]
        if not writable and name not in allow and not trusted:
            read_only.append(name)
            continue
        cleaned[name] = value
    if read_only:
        raise ApiError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(read_only)}. {READ_ONLY_HINT}",
            read_only,
        )
    for name, value in list(cleaned.items()):
        cleaned[name] = coerce(org, schema.field(name), value)
    # Required: every one on create; on update only those the body clears.
    candidates = schema.required if creating else [name for name in cleaned if name in schema.required]
    required = [name for name in candidates if cleaned.get(name, (record or {}).get(name)) in (None, "")]
    if required:
        raise ApiError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(required)}]", required)
    if not trusted:
        broken = rules_broken(org, sobject, cleaned)
        if broken is not None:
            raise broken
    for name, value in cleaned.items():
        meta = schema.field(name)
        if meta["unique"] and value not in (None, ""):
            holder = unique_holder(org, sobject, name, value, exclude=record["Id"] if record else None)
            if holder is not None:
                raise ApiError(
                    "DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record with id: {holder}"
                )
    return Checked(cleaned)


def unique_holder(org: SfOrg, sobject: str, name: str, value: Any, *, exclude: str | None) -> str | None:
    for found in org.stores[sobject].lookup(name, value):
        if found["Id"] != exclude:
            return found["Id"]
    return None


def _full_name(record: dict[str, Any]) -> str:
    parts = (record.get("FirstName"), record.get("MiddleName"), record.get("LastName"), record.get("Suffix"))
    return " ".join(part for part in parts if part)


STAGE_PROBABILITY = {
    "Prospecting": 10,
    "Qualification": 10,
    "Needs Analysis": 20,
    "Value Proposition": 50,
    "Id. Decision Makers": 60,
    "Perception Analysis": 70,
    "Proposal/Price Quote": 75,
    "Negotiation/Review": 90,
    "Closed Won": 100,
    "Closed Lost": 0,
}


def derive(org: SfOrg, sobject: str, record: dict[str, Any], changes: dict[str, Any], *, creating: bool) -> None:
    """Add what Salesforce computes on save to `changes` (the values about to be written to `record`)."""
    schema = org.schema[sobject]
    merged = {**record, **changes}
    if creating:
        for meta in schema.fields:
            if meta["name"] in merged and merged[meta["name"]] is not None:
                continue
            if meta["defaultValue"] is not None and meta["type"] != "boolean" and meta["createable"]:
                changes[meta["name"]] = merged[meta["name"]] = meta["defaultValue"]
    if sobject in ("Lead", "Contact", "User") and {"FirstName", "LastName", "MiddleName", "Suffix"} & set(changes):
        changes["Name"] = _full_name(merged)
    elif creating and sobject in ("Lead", "Contact"):
        changes["Name"] = _full_name(merged)
    if sobject == "Lead" and creating:
        changes.setdefault("IsConverted", False)
        changes.setdefault("Days_Open__c", 0)
    if sobject == "Task":
        closed = merged.get("Status") == "Completed"
        changes["IsClosed"] = closed
        changes["IsHighPriority"] = merged.get("Priority") == "High"
        if closed and not record.get("CompletedDateTime"):
            changes["CompletedDateTime"] = format_sf_datetime(org.now())
        if creating:
            changes.setdefault("TaskSubtype", merged.get("TaskSubtype") or "Task")
        who, what = merged.get("WhoId"), merged.get("WhatId")
        changes["WhoCount"] = 1 if who else 0
        changes["WhatCount"] = 1 if what else 0
        account = None
        if what and ids.sobject_of(what) == "Account":
            account = what
        elif what and ids.sobject_of(what) == "Opportunity":
            account = (org.stores["Opportunity"].get(what) or {}).get("AccountId")
        elif who and ids.sobject_of(who) == "Contact":
            account = (org.stores["Contact"].get(who) or {}).get("AccountId")
        changes["AccountId"] = account
    if sobject == "Opportunity":
        stage = merged.get("StageName")
        changes["IsClosed"] = stage in ("Closed Won", "Closed Lost")
        changes["IsWon"] = stage == "Closed Won"
        if "StageName" in changes and "Probability" not in changes:
            changes["Probability"] = STAGE_PROBABILITY.get(stage)
            merged["Probability"] = changes["Probability"]
        amount, probability = merged.get("Amount"), merged.get("Probability")
        changes["Expected_Revenue_Formula__c"] = (
            round(amount * probability / 100, 2) if amount is not None and probability is not None else None
        )
