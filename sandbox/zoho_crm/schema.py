"""Field metadata of the sandbox CRM's modules, in the shape of `GET /crm/v8/settings/fields` (docs/vendors/zoho-crm.md,
Field metadata).

Each module is a compact list of field specs, expanded by `fields_for(module, prefix)` into Zoho's full field
JSON (every key Zoho's getFields example and its OpenAPI `fields` schema carry). The data is what a real
fitness-studio org looks like: Zoho's standard fields plus custom ones (`Studio`, `Interests`, `Lead_Score`...),
so a mirror meets every odd type: multiselectpicklist (jsonarray), ownerlookup (jsonobject), bigint, currency,
formula, boolean, date, datetime, lookups.

`formula_values(module, record, now)` computes the formula fields; formula values may change later without
Zoho touching Modified_Time (the control API does that on purpose).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MODULE_IDS = {"Leads": 2175, "Accounts": 2177, "Contacts": 2179, "Deals": 2181, "Tasks": 2193, "Notes": 2195}
MODULE_LABELS = {name: (name[:-1], name) for name in MODULE_IDS}
STUDIOS = ["Downtown", "Uptown", "Harbor Point"]
INTERESTS = ["Yoga", "Pilates", "Spin", "HIIT", "Strength", "Boxing", "Swimming", "Personal Training"]
LEAD_STATUSES = (
    "Attempted to Contact|Contact in Future|Contacted|Junk Lead|Lost Lead|Not Contacted|Pre-Qualified|Not Qualified"
).split("|")
LEAD_SOURCES = (
    "Advertisement|Cold Call|Employee Referral|External Referral|Online Store|Partner|Public Relations|Web Download|"
    "Web Research|Chat|Facebook|Instagram|Walk-in|Trade Show"
).split("|")
INDUSTRIES = ["Health & Fitness", "Retail", "Technology", "Education", "Healthcare", "Hospitality", "Finance"]
RATINGS = ["Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down"]
SALUTATIONS = ["Mr.", "Mrs.", "Ms.", "Dr.", "Prof."]
CONTACT_TIMES = ["Morning", "Afternoon", "Evening", "Weekend"]
MEMBERSHIP_TYPES = ["Basic", "Plus", "Premium", "Class Pack", "Drop-in"]
UNSUBSCRIBED_MODES = ["Manual", "Consent form", "Unsubscribe link", "Zoho Campaigns"]
DEAL_STAGES = [  # (stage, probability, forecast type)
    ("Qualification", 10, "Open"),
    ("Needs Analysis", 20, "Open"),
    ("Value Proposition", 40, "Open"),
    ("Identify Decision Makers", 60, "Open"),
    ("Proposal/Price Quote", 75, "Open"),
    ("Negotiation/Review", 90, "Open"),
    ("Closed Won", 100, "Closed Won"),
    ("Closed Lost", 0, "Closed Lost"),
]
TASK_STATUSES = ["Not Started", "Deferred", "In Progress", "Completed", "Waiting on someone else"]
TASK_PRIORITIES = ["High", "Highest", "Low", "Lowest", "Normal"]
ACCOUNT_TYPES = ["Analyst", "Competitor", "Customer", "Distributor", "Integrator", "Investor", "Partner", "Prospect"]

JSON_TYPES = {
    **dict.fromkeys(("text", "textarea", "email", "phone", "website", "picklist", "autonumber"), "string"),
    **dict.fromkeys(("profileimage", "date", "datetime", "bigint"), "string"),
    **dict.fromkeys(("lookup", "ownerlookup", "userlookup"), "jsonobject"),
    **dict.fromkeys(("multiselectpicklist", "multiselectlookup"), "jsonarray"),
    **{"integer": "integer", "double": "double", "currency": "double", "boolean": "boolean"},
}
UI_TYPES = {"text": 1, "picklist": 2, "textarea": 3, "ownerlookup": 8, "autonumber": 10, "website": 21, "date": 24}
UI_TYPES.update({"email": 25, "integer": 32, "phone": 33, "currency": 36, "double": 38, "bigint": 54, "formula": 111})
UI_TYPES.update({"multiselectpicklist": 100, "lookup": 133, "profileimage": 209, "boolean": 301, "datetime": 333})
LENGTHS = {"text": 255, "email": 100, "phone": 30, "website": 255, "textarea": 32000, "picklist": 120}
LENGTHS.update({"integer": 9, "bigint": 18, "double": 16, "currency": 16, "boolean": 5, "date": 20, "datetime": 120})
LENGTHS.update({"lookup": 120, "ownerlookup": 120, "multiselectpicklist": 2000, "profileimage": 255})

# A spec: (api_name, label, data_type, options). Options: mandatory, read_only, custom, length, values
# (picklist), lookup (module), formula (return type, expression), display (the name field), convert (Leads),
# unique (no duplicate values: the install guide's `Leadline_Id`, the key of upserts by external id).
Spec = tuple[str, str, str, dict[str, Any]]
RO: dict[str, Any] = {"read_only": True}


def _system() -> list[Spec]:
    return [
        ("Created_By", "Created By", "ownerlookup", RO),
        ("Modified_By", "Modified By", "ownerlookup", RO),
        ("Created_Time", "Created Time", "datetime", RO),
        ("Modified_Time", "Modified Time", "datetime", RO),
        ("Tag", "Tag", "text", {"read_only": True, "json_type": "jsonarray"}),
    ]


def _address(prefix: str = "", code: str = "Zip_Code") -> list[Spec]:
    label = prefix.replace("_", " ")
    return [
        (f"{prefix}Street", f"{label}Street", "text", {"length": 250}),
        (f"{prefix}City", f"{label}City", "text", {"length": 100}),
        (f"{prefix}State", f"{label}State", "text", {"length": 100}),
        (f"{prefix}{code}", f"{label}{code.replace('_', ' ')}", "text", {"length": 30}),
        (f"{prefix}Country", f"{label}Country", "text", {"length": 100}),
    ]


LEADS: list[Spec] = [
    ("Owner", "Lead Owner", "ownerlookup", {}),
    ("Salutation", "Salutation", "picklist", {"values": SALUTATIONS}),
    ("First_Name", "First Name", "text", {"length": 40, "convert": {"Contacts": "First_Name"}}),
    ("Last_Name", "Last Name", "text", {"length": 80, "mandatory": True, "convert": {"Contacts": "Last_Name"}}),
    ("Full_Name", "Lead Name", "text", {"length": 121, "read_only": True, "display": True}),
    ("Designation", "Title", "text", {"length": 100}),
    ("Company", "Company", "text", {"length": 200, "convert": {"Accounts": "Account_Name"}}),
    ("Email", "Email", "email", {"convert": {"Contacts": "Email"}}),
    ("Secondary_Email", "Secondary Email", "email", {}),
    ("Phone", "Phone", "phone", {"convert": {"Contacts": "Phone"}}),
    ("Mobile", "Mobile", "phone", {"convert": {"Contacts": "Mobile"}}),
    ("Fax", "Fax", "text", {"length": 30}),
    ("Website", "Website", "website", {}),
    ("Lead_Source", "Lead Source", "picklist", {"values": LEAD_SOURCES}),
    ("Lead_Status", "Lead Status", "picklist", {"values": LEAD_STATUSES}),
    ("Industry", "Industry", "picklist", {"values": INDUSTRIES}),
    ("No_of_Employees", "No. of Employees", "integer", {}),
    ("Annual_Revenue", "Annual Revenue", "currency", {}),
    ("Rating", "Rating", "picklist", {"values": RATINGS}),
    ("Email_Opt_Out", "Email Opt Out", "boolean", {}),
    ("Skype_ID", "Skype ID", "text", {"length": 50}),
    ("Twitter", "Twitter", "text", {"length": 50}),
    *_address(),
    ("Description", "Description", "textarea", {}),
    ("Record_Image", "Lead Image", "profileimage", {}),
    ("Last_Activity_Time", "Last Activity Time", "datetime", RO),
    ("Converted__s", "Converted", "boolean", RO),
    ("Converted_Date_Time", "Converted Date Time", "datetime", RO),
    ("Lead_Conversion_Time", "Lead Conversion Time", "integer", RO),
    ("Unsubscribed_Mode", "Unsubscribed Mode", "picklist", {"values": UNSUBSCRIBED_MODES, "read_only": True}),
    ("Unsubscribed_Time", "Unsubscribed Time", "datetime", RO),
    ("Locked__s", "Locked", "boolean", RO),
    ("Enrich_Status__s", "Enrich Status", "picklist", {"values": ["Available", "Enriched", "Data not found"]}),
    ("Last_Enriched_Time__s", "Last Enriched Time", "datetime", RO),
    ("Visitor_Score", "Visitor Score", "bigint", RO),
    ("Days_Visited", "Days Visited", "integer", RO),
    ("Average_Time_Spent_Minutes", "Average Time Spent (Minutes)", "double", RO),
    ("First_Visited_Time", "First Visited Time", "datetime", RO),
    ("First_Visited_URL", "First Visited URL", "website", RO),
    ("Last_Visited_Time", "Most Recent Visit", "datetime", RO),
    ("Number_Of_Chats", "Number Of Chats", "integer", RO),
    ("Referrer", "Referrer", "website", RO),
    *_system(),
    # Custom fields of a fitness-studio org.
    ("Studio", "Studio", "picklist", {"values": STUDIOS, "custom": True}),
    ("Interests", "Interests", "multiselectpicklist", {"values": INTERESTS, "custom": True}),
    ("Preferred_Contact_Time", "Preferred Contact Time", "picklist", {"values": CONTACT_TIMES, "custom": True}),
    ("SMS_Opt_Out", "SMS Opt Out", "boolean", {"custom": True}),
    ("Trial_Date", "Trial Date", "date", {"custom": True}),
    ("Trial_Class_Booked", "Trial Class Booked", "boolean", {"custom": True}),
    ("Membership_Type", "Membership Type", "picklist", {"values": MEMBERSHIP_TYPES, "custom": True}),
    ("Membership_Value", "Membership Value", "currency", {"custom": True}),
    ("Date_of_Birth", "Date of Birth", "date", {"custom": True}),
    ("Goals", "Goals", "textarea", {"custom": True, "length": 2000}),
    ("Referred_By", "Referred By", "text", {"custom": True, "length": 100}),
    ("Last_SMS_Time", "Last SMS Time", "datetime", {"custom": True}),
    ("Leadline_Id", "Leadline Id", "text", {"custom": True, "length": 64, "unique": True}),
    (
        "Lead_Score",
        "Lead Score",
        "formula",
        {
            "custom": True,
            "formula": (
                "double",
                "If(IsBlank(${Leads.Email}),0,10)+If(IsBlank(${Leads.Mobile}),0,20)"
                "+If(${Leads.Trial Class Booked},25,0)+Len(${Leads.Interests})*5",
            ),
        },
    ),
    (
        "Days_Since_Created",
        "Days Since Created",
        "formula",
        {"custom": True, "formula": ("double", "Datecomp(Now(),${Leads.Created Time})/1440")},
    ),
]

CONTACTS: list[Spec] = [
    ("Owner", "Contact Owner", "ownerlookup", {}),
    ("Salutation", "Salutation", "picklist", {"values": SALUTATIONS}),
    ("First_Name", "First Name", "text", {"length": 40}),
    ("Last_Name", "Last Name", "text", {"length": 80, "mandatory": True}),
    ("Full_Name", "Contact Name", "text", {"length": 121, "read_only": True, "display": True}),
    ("Account_Name", "Account Name", "lookup", {"lookup": "Accounts"}),
    ("Reporting_To", "Reporting To", "lookup", {"lookup": "Contacts"}),
    ("Email", "Email", "email", {}),
    ("Secondary_Email", "Secondary Email", "email", {}),
    ("Title", "Title", "text", {"length": 100}),
    ("Department", "Department", "text", {"length": 30}),
    ("Phone", "Phone", "phone", {}),
    ("Home_Phone", "Home Phone", "phone", {}),
    ("Other_Phone", "Other Phone", "phone", {}),
    ("Mobile", "Mobile", "phone", {}),
    ("Fax", "Fax", "text", {"length": 30}),
    ("Assistant", "Assistant", "text", {"length": 30}),
    ("Asst_Phone", "Asst Phone", "phone", {}),
    ("Date_of_Birth", "Date of Birth", "date", {}),
    ("Lead_Source", "Lead Source", "picklist", {"values": LEAD_SOURCES}),
    ("Email_Opt_Out", "Email Opt Out", "boolean", {}),
    ("Skype_ID", "Skype ID", "text", {"length": 50}),
    ("Twitter", "Twitter", "text", {"length": 50}),
    *_address("Mailing_", "Zip"),
    ("Description", "Description", "textarea", {}),
    ("Record_Image", "Contact Image", "profileimage", {}),
    ("Last_Activity_Time", "Last Activity Time", "datetime", RO),
    ("Unsubscribed_Mode", "Unsubscribed Mode", "picklist", {"values": UNSUBSCRIBED_MODES, "read_only": True}),
    ("Unsubscribed_Time", "Unsubscribed Time", "datetime", RO),
    ("Locked__s", "Locked", "boolean", RO),
    *_system(),
    ("Studio", "Studio", "picklist", {"values": STUDIOS, "custom": True}),
    ("Interests", "Interests", "multiselectpicklist", {"values": INTERESTS, "custom": True}),
    ("SMS_Opt_Out", "SMS Opt Out", "boolean", {"custom": True}),
    ("Membership_Type", "Membership Type", "picklist", {"values": MEMBERSHIP_TYPES, "custom": True}),
    ("Membership_Start_Date", "Membership Start Date", "date", {"custom": True}),
    ("Membership_Value", "Membership Value", "currency", {"custom": True}),
    ("Member_Number", "Member Number", "bigint", {"custom": True}),
    ("Leadline_Id", "Leadline Id", "text", {"custom": True, "length": 64, "unique": True}),
]

ACCOUNTS: list[Spec] = [
    ("Owner", "Account Owner", "ownerlookup", {}),
    ("Account_Name", "Account Name", "text", {"length": 200, "mandatory": True, "display": True}),
    ("Account_Site", "Account Site", "text", {"length": 30}),
    ("Parent_Account", "Parent Account", "lookup", {"lookup": "Accounts"}),
    ("Account_Number", "Account Number", "bigint", {}),
    ("Account_Type", "Account Type", "picklist", {"values": ACCOUNT_TYPES}),
    ("Industry", "Industry", "picklist", {"values": INDUSTRIES}),
    ("Annual_Revenue", "Annual Revenue", "currency", {}),
    ("Rating", "Rating", "picklist", {"values": RATINGS}),
    ("Phone", "Phone", "phone", {}),
    ("Fax", "Fax", "text", {"length": 30}),
    ("Website", "Website", "website", {}),
    ("Ticker_Symbol", "Ticker Symbol", "text", {"length": 30}),
    ("Ownership", "Ownership", "picklist", {"values": ["Other", "Private", "Public", "Subsidiary", "Partnership"]}),
    ("Employees", "Employees", "integer", {}),
    ("SIC_Code", "SIC Code", "integer", {}),
    *_address("Billing_", "Code"),
    *_address("Shipping_", "Code"),
    ("Description", "Description", "textarea", {}),
    ("Record_Image", "Account Image", "profileimage", {}),
    ("Last_Activity_Time", "Last Activity Time", "datetime", RO),
    ("Locked__s", "Locked", "boolean", RO),
    *_system(),
    ("Studio", "Studio", "picklist", {"values": STUDIOS, "custom": True}),
    ("Corporate_Wellness", "Corporate Wellness", "boolean", {"custom": True}),
    ("Leadline_Id", "Leadline Id", "text", {"custom": True, "length": 64, "unique": True}),
]

DEALS: list[Spec] = [
    ("Owner", "Deal Owner", "ownerlookup", {}),
    ("Deal_Name", "Deal Name", "text", {"length": 120, "mandatory": True, "display": True}),
    ("Amount", "Amount", "currency", {}),
    ("Closing_Date", "Closing Date", "date", {}),
    ("Account_Name", "Account Name", "lookup", {"lookup": "Accounts"}),
    ("Contact_Name", "Contact Name", "lookup", {"lookup": "Contacts"}),
    ("Pipeline", "Pipeline", "picklist", {"values": ["Standard (Standard)"]}),
    ("Stage", "Stage", "picklist", {"values": [stage for stage, _, _ in DEAL_STAGES], "mandatory": True}),
    ("Type", "Type", "picklist", {"values": ["Existing Business", "New Business"]}),
    ("Probability", "Probability (%)", "integer", {"length": 3}),
    ("Expected_Revenue", "Expected Revenue", "currency", RO),
    ("Next_Step", "Next Step", "text", {"length": 100}),
    ("Lead_Source", "Lead Source", "picklist", {"values": LEAD_SOURCES}),
    ("Reason_For_Loss__s", "Reason For Loss", "picklist", {"values": ["Price", "Competition", "Moved", "Other"]}),
    ("Description", "Description", "textarea", {}),
    ("Lead_Conversion_Time", "Lead Conversion Time", "integer", RO),
    ("Sales_Cycle_Duration", "Sales Cycle Duration", "integer", RO),
    ("Overall_Sales_Duration", "Overall Sales Duration", "integer", RO),
    ("Last_Activity_Time", "Last Activity Time", "datetime", RO),
    ("Locked__s", "Locked", "boolean", RO),
    *_system(),
    ("Studio", "Studio", "picklist", {"values": STUDIOS, "custom": True}),
    ("Membership_Type", "Membership Type", "picklist", {"values": MEMBERSHIP_TYPES, "custom": True}),
    ("Trial_Date", "Trial Date", "date", {"custom": True}),
]

TASKS: list[Spec] = [
    ("Owner", "Task Owner", "ownerlookup", {}),
    ("Subject", "Subject", "text", {"mandatory": True, "display": True}),
    ("Due_Date", "Due Date", "date", {}),
    ("Who_Id", "Contact Name", "lookup", {"lookup": "Contacts"}),
    ("What_Id", "Related To", "lookup", {"lookup": "Leads", "multi": ["Leads", "Accounts", "Deals"]}),
    ("$se_module", "Related Module", "text", {"length": 50}),
    ("Status", "Status", "picklist", {"values": TASK_STATUSES}),
    ("Priority", "Priority", "picklist", {"values": TASK_PRIORITIES}),
    ("Send_Notification_Email", "Send Notification Email", "boolean", {}),
    ("Closed_Time", "Closed Time", "datetime", RO),
    ("Description", "Description", "textarea", {}),
    *_system(),
]

NOTES: list[Spec] = [
    ("Owner", "Note Owner", "ownerlookup", {}),
    ("Note_Title", "Note Title", "text", {"length": 120, "display": True}),
    ("Note_Content", "Note Content", "textarea", {}),
    (
        "Parent_Id",
        "Parent ID",
        "lookup",
        {"lookup": "Leads", "multi": ["Leads", "Contacts", "Accounts", "Deals"], "mandatory": True},
    ),
    ("$se_module", "Parent Module", "text", {"length": 50}),
    *_system(),
]

SPECS: dict[str, list[Spec]] = {
    "Leads": LEADS,
    "Contacts": CONTACTS,
    "Accounts": ACCOUNTS,
    "Deals": DEALS,
    "Tasks": TASKS,
    "Notes": NOTES,
}
MODULES = tuple(SPECS)


def _picklist(prefix: str, base: int, values: list[str], stage: bool = False) -> list[dict[str, Any]]:
    items = [{"display_value": "-None-", "actual_value": "-None-"}] if not stage else []
    items += [{"display_value": value, "actual_value": value} for value in values]
    result = []
    for index, item in enumerate(items):
        entry = {
            **item,
            "sequence_number": index + 1,
            "colour_code": None,
            "type": "used",
            "id": f"{prefix}{base + index:012d}",
            "expected_data_type": "string",
            "sys_ref_name": item["actual_value"],
            "maps": [],
        }
        if stage:
            _, probability, forecast = DEAL_STAGES[index]
            entry.update({"probability": probability, "forecast_type": forecast, "deal_category": forecast})
        result.append(entry)
    return result


def module_id(prefix: str, module: str) -> str:
    return f"{prefix}{MODULE_IDS[module]:012d}"


def fields_for(module: str, prefix: str) -> list[dict[str, Any]]:
    """The full `GET /settings/fields` JSON of one module, ids under the org's prefix."""
    profiles = [
        {"permission_type": "read_write", "name": "Administrator", "id": f"{prefix}000000015972"},
        {"permission_type": "read_write", "name": "Standard", "id": f"{prefix}000000015975"},
    ]
    layout = [{"api_name": "Standard__s", "name": "Standard", "id": f"{prefix}{MODULE_IDS[module] + 90000:012d}"}]
    result = []
    for sequence, (api_name, label, data_type, options) in enumerate(SPECS[module], start=1):
        field_id = f"{prefix}{MODULE_IDS[module] * 1000 + sequence:012d}"
        read_only = bool(options.get("read_only")) or data_type == "formula"
        custom = bool(options.get("custom"))
        mandatory = bool(options.get("mandatory"))
        shown_type = options.get("formula", ("", ""))[0] if data_type == "formula" else data_type
        meta: dict[str, Any] = {
            "associated_module": None,
            "webhook": True,
            "operation_type": {
                "web_update": not read_only,
                "api_create": not read_only,
                "web_create": not read_only,
                "api_update": not read_only,
            },
            "colour_code_enabled_by_system": False,
            "field_label": label,
            "tooltip": None,
            "display_format_properties": None,
            "type": "used",
            "field_read_only": read_only,
            "customizable_properties": [] if read_only else ["mandatory", "tooltip"],
            "display_label": label,
            "read_only": read_only,
            "association_details": None,
            "businesscard_supported": not custom and not read_only,
            "multi_module_lookup": {},
            "id": field_id,
            "created_time": "2024-01-08T10:15:00-05:00" if custom else None,
            "filterable": data_type not in ("textarea", "profileimage"),
            "visible": True,
            "profiles": profiles,
            "view_type": {"view": True, "edit": not read_only, "quick_create": mandatory, "create": not read_only},
            "separator": False,
            "searchable": data_type in ("text", "email", "phone", "picklist", "textarea", "website"),
            "history_tracking_enabled": False,
            "external": None,
            "api_name": api_name,
            "parent_field": None,
            # Zoho's "Do not allow duplicate values" (fields API: `unique.casesensitive`), {} on other fields.
            "unique": {"casesensitive": "false"} if options.get("unique") else {},
            "enable_colour_code": False,
            "child_fields": None,
            "pick_list_values": [],
            "system_mandatory": mandatory,
            "private": None,
            "virtual_field": False,
            "json_type": options.get("json_type") or JSON_TYPES.get(shown_type, "string"),
            "crypt": None,
            "range": None,
            "created_source": "default",
            "display_type": -1,
            "ui_type": UI_TYPES.get(data_type, 1),
            "modified_time": "2024-01-08T10:15:00-05:00" if custom else None,
            "public": False,
            "quick_sequence_number": str(sequence) if mandatory else "0",
            "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
            "currency": {},
            "custom_field": custom,
            "lookup": {},
            "hipaa_compliance": None,
            "convert_mapping": {"Contacts": None, "Deals": None, "Accounts": None, **options.get("convert", {})},
            "address": None,
            "rollup_summary": {},
            "length": options.get("length", LENGTHS.get(shown_type, 255)),
            "column_name": f"{module[:-1].upper()}CF{sequence}" if custom else api_name.upper().replace("_", ""),
            "display_field": bool(options.get("display")),
            "pick_list_values_sorted_lexically": False,
            "sortable": data_type not in ("textarea", "multiselectpicklist", "profileimage"),
            "layout_associations": layout,
            "global_picklist": None,
            "display_format": None,
            "history_tracking": None,
            "data_type": data_type,
            "formula": {},
            "additional_column": None,
            "hipaa_compliance_enabled": False,
            "decimal_place": 2 if shown_type in ("double", "currency") else None,
            "mass_update": not read_only and data_type not in ("textarea", "profileimage"),
            "multiselectlookup": {},
            "auto_number": {},
            "webhook_supported": True,
            "blueprint_supported": data_type in ("picklist", "text", "boolean"),
            "available_in_user_layout": True,
            "show_type": 0,
            "category": 0,
            "sharing_properties": None,
            "file_upolad_optionlist": [],
            "sub_module": None,
            "subform": None,
            "refer_from_field": None,
            "multiuserlookup": None,
            "autonumber": None,
            "allowed_modules": [],
            "common.picklist": None,
            "_update_existing_records": False,
            "number_separator": shown_type in ("integer", "currency", "double"),
            "textarea": {"type": "large"} if data_type == "textarea" else None,
            "static_field": False,
            "sequence_number": sequence,
        }
        if "values" in options:
            stage = api_name == "Stage"
            meta["pick_list_values"] = _picklist(
                prefix, MODULE_IDS[module] * 100000 + sequence * 100, options["values"], stage
            )
        if data_type == "currency" or shown_type == "currency":
            meta["currency"] = {"rounding_option": "normal", "precision": 2}
        if data_type == "formula":
            return_type, expression = options["formula"]
            meta["formula"] = {"return_type": return_type, "expression": expression}
        if "lookup" in options:
            target = options["lookup"]
            meta["lookup"] = {
                "display_label": label,
                "api_name": api_name,
                "module": {"api_name": target, "id": module_id(prefix, target)},
                "id": field_id,
                "query_details": {},
                "revalidate_filter_during_edit": False,
                "show_fields": [],
            }
            if "multi" in options:
                meta["allowed_modules"] = [
                    {"api_name": name, "id": module_id(prefix, name), "module_name": name} for name in options["multi"]
                ]
        result.append(meta)
    return result


def field_index(fields_metadata: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {meta["api_name"]: meta for meta in fields_metadata}


# --- formula fields ----------------------------------------------------------------------------------------
def lead_score(record: dict[str, Any]) -> float:
    score = 0.0
    score += 10 if record.get("Email") else 0
    score += 20 if record.get("Mobile") else 0
    score += 25 if record.get("Trial_Class_Booked") else 0
    score += 5 * len(record.get("Interests") or [])
    return score


def formula_values(module: str, record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Values of the module's formula fields for this record (Zoho recomputes them on save)."""
    if module != "Leads":
        return {}
    created = record.get("Created_Time")
    days = None
    if created:
        days = round((now - datetime.fromisoformat(created)).total_seconds() / 86400, 2)
    return {"Lead_Score": lead_score(record), "Days_Since_Created": days}
