"""Checking one record of an insert or update against the module's field metadata (docs/vendors/zoho-crm.md, Writes).

Every error is Zoho's per-record entry `{code, details: {api_name, json_path, ...}, message, status: "error"}`:
- an unknown field API name → INVALID_DATA "the field api name given seems to be invalid" (Zoho rejects the
  record; it does not drop the field);
- a value of the wrong type → INVALID_DATA with `expected_data_type`; too long → `maximum_length`; a picklist
  value outside the list, a malformed email or date, a lookup to no record, an Owner who is no active user →
  INVALID_DATA;
- a missing mandatory field (Last_Name for Leads and Contacts, Account_Name, Deal_Name and Stage, Subject,
  Parent_Id) → MANDATORY_NOT_FOUND; a Task's What_Id without `$se_module` → MANDATORY_NOT_FOUND on
  `$se_module`; a Note with neither title nor content → EXPECTED_FIELD_MISSING.
- a value another record already holds in a field with "Do not allow duplicate values" (metadata `unique`, e.g. the
  install guide's `Leadline_Id`) → DUPLICATE_DATA naming the field and that record (`unique_check`);
- an API write setting a field a validation rule guards (`ZohoOrg.validation_rules`, set through the control API)
  → INVALID_DATA with the rule's alert message as `message` (`rules_check`; the exact code Zoho gives a validation
  rule's refusal is UNCONFIRMED for v8: docs/vendors/zoho-crm.md).
Read-only fields (Created_Time, formulas, Full_Name...) are ignored, as Zoho ignores them. Lookups are stored
as `{name, id}`, Owner as `{name, id, email}`, datetimes in the org's offset.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, datetime
from typing import Any

from sandbox.zoho_crm import schema
from sandbox.zoho_crm.orgs import ZohoOrg, minified
from sandbox.zoho_crm.store import RecordStore, display_name, format_zoho_datetime

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_TYPES = ("text", "textarea", "email", "phone", "website", "picklist")
LOOKUP_MODULE_KEYS = {"What_Id": "$se_module", "Parent_Id": "$se_module"}


class RecordError(Exception):
    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.entry = {"code": code, "details": details, "message": message, "status": "error"}


def _invalid(api_name: str, path: str, message: str = "invalid data", **extra: Any) -> RecordError:
    return RecordError("INVALID_DATA", message, **extra, api_name=api_name, json_path=path)


def _lookup_target(org: ZohoOrg, module: str, api_name: str, value: Any, raw: dict[str, Any]) -> str | None:
    """The module a lookup points at: fixed, or the record's `$se_module` / `Parent_Id.module` for the
    multi-module ones (Tasks.What_Id, Notes.Parent_Id)."""
    meta = schema.field_index(org.fields[module])[api_name]
    allowed = [item["api_name"] for item in meta.get("allowed_modules") or []]
    if not allowed:
        return meta["lookup"]["module"]["api_name"]
    if api_name == "Parent_Id" and isinstance(value, dict) and isinstance(value.get("module"), dict):
        return value["module"].get("api_name")
    return raw.get("$se_module")


def _clean_value(org: ZohoOrg, module: str, meta: dict[str, Any], value: Any, raw: dict, path: str) -> Any:
    api_name, data_type = meta["api_name"], meta["data_type"]
    expected = {"expected_data_type": data_type}
    if data_type in TEXT_TYPES:
        if not isinstance(value, str):
            raise _invalid(api_name, path, **expected)
        if len(value) > meta["length"]:
            raise _invalid(api_name, path, maximum_length=meta["length"])
        if data_type == "email" and value and not EMAIL.match(value):
            raise _invalid(api_name, path)
        if data_type == "picklist":
            values = {item["actual_value"] for item in meta["pick_list_values"]}
            if value not in values:
                raise _invalid(api_name, path)
            return None if value == "-None-" else value
        return value
    if data_type == "multiselectpicklist":
        values = {item["actual_value"] for item in meta["pick_list_values"]}
        if not isinstance(value, list) or not all(isinstance(item, str) and item in values for item in value):
            raise _invalid(api_name, path, expected_data_type="jsonarray")
        return list(value)
    if data_type == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**31:
            raise _invalid(api_name, path, **expected)
        return value
    if data_type == "bigint":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise _invalid(api_name, path, **expected)
        return str(value)
    if data_type in ("double", "currency"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid(api_name, path, expected_data_type="double")
        return value
    if data_type == "boolean":
        if not isinstance(value, bool):
            raise _invalid(api_name, path, **expected)
        return value
    if data_type == "date":
        try:
            return date.fromisoformat(value).isoformat() if isinstance(value, str) and len(value) == 10 else _bad()
        except ValueError:
            raise _invalid(api_name, path, **expected) from None
    if data_type == "datetime":
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else _bad()
        except ValueError:
            raise _invalid(api_name, path, **expected) from None
        if moment.tzinfo is None:
            raise _invalid(api_name, path, **expected)
        return format_zoho_datetime(moment, org.tz)
    if data_type == "ownerlookup":
        user_id = str(value.get("id")) if isinstance(value, dict) else None
        user = org.user(user_id)
        if user is None or user.get("status") != "active":
            raise _invalid(api_name, path, expected_data_type="jsonobject")
        return minified(user)
    if data_type == "lookup":
        record_id = value.get("id") if isinstance(value, dict) else value if api_name == "Parent_Id" else None
        if record_id is None or not str(record_id).isdigit():
            raise _invalid(api_name, path, expected_data_type="jsonobject")
        target_name = _lookup_target(org, module, api_name, value, raw)
        target = org.module(target_name or "")
        record = target.get(str(record_id)) if target is not None else None
        if record is None:
            raise _invalid(api_name, path, "the id given seems to be invalid")
        shown = {"name": display_name(record), "id": record["id"]}
        if api_name == "Parent_Id":
            shown["module"] = {"api_name": target_name, "id": schema.module_id(org.prefix, target_name)}
        return shown
    return value


def _bad() -> Any:
    raise ValueError("wrong type")


def clean(org: ZohoOrg, module: str, raw: Any, index: int, *, creating: bool) -> dict[str, Any]:
    """The values to store for one input record, or RecordError. `id` is kept for updates."""
    if not isinstance(raw, dict):
        raise RecordError("INVALID_DATA", "invalid data", json_path=f"$.data[{index}]", expected_data_type="jsonobject")
    metas = schema.field_index(org.fields[module])
    _parent_module_given(module, raw, index)
    values: dict[str, Any] = {}
    for api_name, value in raw.items():
        path = f"$.data[{index}].{api_name}"
        if api_name == "id":
            continue
        if api_name == "$se_module":
            if value not in (None, *schema.MODULES):
                raise _invalid(api_name, path)
            values[api_name] = value
            continue
        if api_name.startswith("$"):
            continue  # other system keys ($approval_state...) are Zoho's to set
        meta = metas.get(api_name)
        if meta is None:
            raise _invalid(api_name, path, "the field api name given seems to be invalid")
        if api_name == "Tag":
            values["Tag"] = _tags(org, value, path)
            continue
        if meta["read_only"] or meta["data_type"] in ("formula", "profileimage"):
            continue
        if value is None or (value == "" and meta["system_mandatory"]):
            if meta["system_mandatory"]:
                raise RecordError("MANDATORY_NOT_FOUND", "required field not found", api_name=api_name, json_path=path)
            values[api_name] = None
            continue
        values[api_name] = _clean_value(org, module, meta, value, raw, path)
    if creating:
        for meta in metas.values():
            if meta["system_mandatory"] and values.get(meta["api_name"]) in (None, ""):
                path = f"$.data[{index}].{meta['api_name']}"
                raise RecordError(
                    "MANDATORY_NOT_FOUND", "required field not found", api_name=meta["api_name"], json_path=path
                )
    _module_rules(module, raw, values, index, creating=creating)
    return values


def _tags(org: ZohoOrg, value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) and item.get("name") for item in value):
        raise _invalid("Tag", path, expected_data_type="jsonarray")
    return [
        {"name": item["name"], "id": f"{org.prefix}{91000 + zlib.crc32(item['name'].encode()) % 999:012d}"}
        for item in value
    ]


def _parent_module_given(module: str, raw: dict[str, Any], index: int) -> None:
    """A Task's What_Id needs `$se_module` (a `What_Id.module` object is not taken: UNCONFIRMED for v8); so
    does a Note's legacy `Parent_Id: "<id>"` (v8 names the module inside Parent_Id)."""
    parent = raw.get("What_Id") if module == "Tasks" else raw.get("Parent_Id") if module == "Notes" else None
    names_module = module == "Notes" and isinstance(parent, dict) and isinstance(parent.get("module"), dict)
    if parent is not None and not names_module and not raw.get("$se_module"):
        raise RecordError(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            api_name="$se_module",
            json_path=f"$.data[{index}].$se_module",
        )


def _module_rules(module: str, raw: dict[str, Any], values: dict[str, Any], index: int, *, creating: bool) -> None:
    base = f"$.data[{index}]"
    if module == "Notes":
        if creating and not (values.get("Note_Title") or values.get("Note_Content")):
            raise RecordError(
                "EXPECTED_FIELD_MISSING",
                "should contain either content or title",
                expected_fields=[
                    {"api_name": "Note_Title", "json_path": f"{base}.Note_Title"},
                    {"api_name": "Note_Content", "json_path": f"{base}.Note_Content"},
                ],
            )
        if values.get("Parent_Id"):
            values["$se_module"] = values["Parent_Id"]["module"]["api_name"]


def derived(org: ZohoOrg, module: str, record: dict[str, Any]) -> dict[str, Any]:
    """Values Zoho computes on save: names, formulas, deal probability, currency symbol."""
    result: dict[str, Any] = {}
    if module in ("Leads", "Contacts") and ("First_Name" in record or "Last_Name" in record):
        result["Full_Name"] = " ".join(part for part in (record.get("First_Name"), record.get("Last_Name")) if part)
    if module == "Deals" and record.get("Stage"):
        probabilities = {stage: probability for stage, probability, _ in schema.DEAL_STAGES}
        probability = record.get("Probability")
        if probability is None:
            probability = probabilities.get(record["Stage"], 0)
            result["Probability"] = probability
        if record.get("Amount") is not None:
            result["Expected_Revenue"] = round(record["Amount"] * probability / 100, 2)
    if any(meta["data_type"] == "currency" for meta in org.fields[module]):
        result["$currency_symbol"] = "$"
    merged = {**record, **result}
    result.update(schema.formula_values(module, merged, org.now()) if merged.get("Created_Time") else {})
    return result


def rules_check(org: ZohoOrg, module: str, raw: Any, index: int) -> None:
    """The org's validation rules on an API write: a record that sets a guarded field (to anything) is refused
    with the rule's message."""
    rules = org.validation_rules.get(module) or {}
    if not rules or not isinstance(raw, dict):
        return
    for api_name in raw:
        if api_name in rules:
            raise _invalid(api_name, f"$.data[{index}].{api_name}", rules[api_name])


def unique_check(
    org: ZohoOrg, store: RecordStore, values: dict[str, Any], index: int, *, record_id: str | None = None
) -> None:
    """DUPLICATE_DATA when a value of a unique field is another live record's already."""
    for api_name in store.unique_fields:
        if api_name not in values:
            continue
        others = [other for other in store.ids_with(api_name, values[api_name]) if other != record_id]
        if others:
            duplicate = store.get(others[0]) or {}
            module_id = schema.module_id(org.prefix, store.module) if store.module in schema.MODULE_IDS else None
            owner = duplicate.get("Owner") or {}
            raise RecordError(
                "DUPLICATE_DATA",
                "duplicate data",
                api_name=api_name,
                json_path=f"$.data[{index}].{api_name}",
                duplicate_record={
                    "id": others[0],
                    "Owner": {"name": owner.get("name"), "id": owner.get("id"), "zuid": owner.get("id")},
                    "module": {"api_name": store.module, "id": module_id},
                },
                more_records=len(others) > 1,
            )
