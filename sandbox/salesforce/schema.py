"""Describe metadata of the emulated sObjects: Lead (more than 100 fields, custom `__c` ones among them),
Contact, Account, Opportunity, Task and User, in the shape of `GET /services/data/vXX.X/sobjects/<X>/describe`.

Field shapes and type names follow the describe reference (DescribeFieldResult: name, label, type, length,
nillable, createable, updateable, custom, externalId, unique, calculated, picklistValues, referenceTo,
relationshipName, ...; types string, boolean, int, double, date, datetime, id, reference, currency, textarea,
percent, phone, url, email, combobox, picklist, multipicklist, address; phone fields are type `phone`, length 40).
Standard field names come from the Lead, Contact, Account, Opportunity and Task object references.

What the emulator's rules read from here:
- required on create: `nillable` false, `createable` true and not `defaultedOnCreate` (`SobjectSchema.required`);
- read-only: `createable` / `updateable` false (system fields, `Name`, formula fields with `calculated` true);
- restricted picklists: `restrictedPicklist` true (values outside `picklistValues` refused);
- external ids: `externalId` true (upsert by `sobjects/<X>/<field>/<value>`), unique or not (300 on several);
- long text: `textarea` longer than 255 (two or more in a query make batches of 200);
- compound fields (`address`) are read-only and made from their parts (`compoundFieldName` on the parts).

Formula fields (Lead `Days_Open__c`, Opportunity `Expected_Revenue_Formula__c`) keep a stored value: the control
API's silent update plays a recalculation (the value changes, SystemModstamp does not), as Salesforce's formulas
change without touching SystemModstamp.

API: `build_schemas() -> dict[name, SobjectSchema]` (a fresh copy per org, so an org may drop a field),
`SobjectSchema.field(name)` (case-insensitive, as the API compares field names), `.names`, `.required`,
`.phone_fields`, `.long_text_fields`, `.external_id_fields`, `.compound_fields`, `.describe(version)`,
`.global_entry(version)`, `.default_of(name)`; `SOBJECTS` (the served objects' names, in describe-global order).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.ids import KEY_PREFIXES

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
    "location": "urn:location",
}
TEXT_TYPES = ("string", "textarea", "phone", "email", "url", "picklist", "multipicklist", "combobox", "id", "reference")
LONG_TEXT_MIN = 256  # a textarea longer than 255 is long text (SOQL: "Change the Batch Size in Queries")


def _pick(values: list[str], *, default: str | None = None) -> list[dict[str, Any]]:
    return [
        {"active": True, "defaultValue": value == default, "label": value, "validFor": None, "value": value}
        for value in values
    ]


def fld(name: str, type_: str = "string", label: str | None = None, **overrides: Any) -> dict[str, Any]:
    """One describe field with the defaults of a plain, editable, optional field of its type."""
    length = overrides.pop(
        "length",
        {
            "string": 255,
            "phone": 40,
            "email": 80,
            "url": 255,
            "picklist": 255,
            "multipicklist": 4099,
            "combobox": 255,
            "textarea": 255,
            "id": 18,
            "reference": 18,
        }.get(type_, 0),
    )
    picklist = overrides.pop("picklist", None)
    default = overrides.pop("default", None)
    numeric = type_ in ("int", "double", "currency", "percent")
    result: dict[str, Any] = {
        "aggregatable": type_ not in ("textarea", "multipicklist", "address", "boolean") or length <= 255,
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": length * 3 if type_ in TEXT_TYPES else 0,
        "calculated": False,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": True,
        "custom": name.endswith("__c"),
        "defaultValue": None,
        "defaultValueFormula": None,
        "defaultedOnCreate": False,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if type_ == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": False,
        "extraTypeInfo": None,
        "filterable": not (type_ == "textarea" and length > 255),
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": type_ not in ("textarea", "double", "currency", "percent", "address", "multipicklist"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": False,
        "inlineHelpText": None,
        "label": label or _label(name),
        "length": length,
        "mask": None,
        "maskType": None,
        "name": name,
        "nameField": False,
        "namePointing": False,
        "nillable": True,
        "permissionable": name.endswith("__c"),
        "picklistValues": _pick(picklist, default=default) if picklist else [],
        "polymorphicForeignKey": False,
        "precision": 18 if numeric and type_ != "int" else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": [],
        "relationshipName": None,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": False,
        "scale": 2 if type_ in ("currency", "double", "percent") else 0,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES.get(type_, "xsd:string"),
        "sortable": not (type_ == "textarea" and length > 255) and type_ not in ("multipicklist", "address"),
        "type": type_,
        "unique": False,
        "updateable": True,
        "writeRequiresMasterRead": False,
    }
    if picklist and default is not None:
        result["defaultValue"] = default
        result["defaultedOnCreate"] = True
    if type_ == "boolean":
        result.update(nillable=False, defaultValue=False, defaultedOnCreate=True)
    result.update(overrides)
    return result


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name.endswith("Id") and name != "Id" else name
    base = base.removesuffix("__c")
    words, current = [], ""
    for char in base.replace("_", " "):
        if char.isupper() and current and not current[-1].isupper() and current[-1] != " ":
            words.append(current)
            current = char
        else:
            current += char
    words.append(current)
    return " ".join(word.strip() for word in words if word.strip())


def system(name: str, type_: str, **overrides: Any) -> dict[str, Any]:
    """A field the system sets: neither createable nor updateable."""
    return fld(name, type_, createable=False, updateable=False, **overrides)


def ref(name: str, targets: list[str], relationship: str | None, **overrides: Any) -> dict[str, Any]:
    return fld(
        name,
        "reference",
        referenceTo=targets,
        relationshipName=relationship,
        polymorphicForeignKey=len(targets) > 1,
        **overrides,
    )


def id_field() -> dict[str, Any]:
    return system("Id", "id", label="Record ID", nillable=False, idLookup=True, defaultedOnCreate=True)


def audit_fields() -> list[dict[str, Any]]:
    """The system fields every sObject has."""
    return [
        system("IsDeleted", "boolean", label="Deleted"),
        system("CreatedDate", "datetime", nillable=False, defaultedOnCreate=True),
        system(
            "CreatedById",
            "reference",
            nillable=False,
            defaultedOnCreate=True,
            referenceTo=["User"],
            relationshipName="CreatedBy",
        ),
        system("LastModifiedDate", "datetime", nillable=False, defaultedOnCreate=True),
        system(
            "LastModifiedById",
            "reference",
            nillable=False,
            defaultedOnCreate=True,
            referenceTo=["User"],
            relationshipName="LastModifiedBy",
        ),
        system("SystemModstamp", "datetime", label="System Modstamp", nillable=False, defaultedOnCreate=True),
    ]


def owner_field() -> dict[str, Any]:
    return ref("OwnerId", ["User"], "Owner", label="Owner ID", nillable=False, defaultedOnCreate=True)


def address_fields(prefix: str, label: str) -> list[dict[str, Any]]:
    """Street/City/State/PostalCode/Country (+ Latitude/Longitude/GeocodeAccuracy) and the compound address."""
    compound = f"{prefix}Address"
    parts = [
        fld(f"{prefix}Street", "textarea", f"{label} Street"),
        fld(f"{prefix}City", "string", f"{label} City", length=40),
        fld(f"{prefix}State", "string", f"{label} State/Province", length=80),
        fld(f"{prefix}PostalCode", "string", f"{label} Zip/Postal Code", length=20),
        fld(f"{prefix}Country", "string", f"{label} Country", length=80),
        fld(f"{prefix}Latitude", "double", f"{label} Latitude", precision=18, scale=15),
        fld(f"{prefix}Longitude", "double", f"{label} Longitude", precision=18, scale=15),
        fld(
            f"{prefix}GeocodeAccuracy",
            "picklist",
            f"{label} Geocode Accuracy",
            picklist=[
                "Address",
                "NearAddress",
                "Block",
                "Street",
                "ExtendedZip",
                "Zip",
                "City",
                "County",
                "State",
                "Unknown",
            ],
        ),
    ]
    for part in parts:
        part["compoundFieldName"] = compound
    return [*parts, system(compound, "address", label=f"{label} Address" if prefix else "Address")]


def name_fields(*, salutation: bool = True) -> list[dict[str, Any]]:
    fields = [
        fld("LastName", "string", nillable=False, length=80, compoundFieldName="Name"),
        fld("FirstName", "string", length=40, compoundFieldName="Name"),
    ]
    if salutation:
        fields.append(
            fld(
                "Salutation",
                "picklist",
                compoundFieldName="Name",
                picklist=["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."],
            )
        )
    fields += [
        fld("MiddleName", "string", length=40, compoundFieldName="Name"),
        fld("Suffix", "string", length=40, compoundFieldName="Name"),
        system("Name", "string", label="Full Name", length=121, nameField=True),
    ]
    return fields


LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Walk-in", "Instagram"]
INDUSTRIES = [
    "Agriculture",
    "Banking",
    "Education",
    "Healthcare",
    "Hospitality",
    "Recreation",
    "Retail",
    "Technology",
    "Other",
]
STUDIO_NAMES = ["Summit Downtown", "Summit Uptown", "Harbor", "Main", "East", "Online"]
CLASSES = ["Yoga", "Pilates", "Spin", "HIIT", "Boxing", "Barre", "Strength", "Swim"]
TIERS = ["Intro", "Basic", "Plus", "Unlimited", "Founder"]
TASK_TYPES = ["Call", "Email", "Meeting", "Other", "SMS"]
TASK_STATUSES = ["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"]
OPPORTUNITY_STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]


def _lead_custom_fields() -> list[dict[str, Any]]:
    """Custom fields a studio chain adds to Lead (the opt-out box, the studio, our id, a formula, long texts)."""
    return [
        fld("SMS_Opt_Out__c", "boolean", "SMS Opt Out"),
        fld("Studio__c", "string", "Studio", length=80),
        fld("Leadline_Id__c", "string", "Leadline ID", length=64, externalId=True, unique=True, idLookup=True),
        fld("External_Ref__c", "string", "External Reference", length=80, externalId=True, idLookup=True),
        fld(
            "Days_Open__c",
            "double",
            "Days Open",
            calculated=True,
            createable=False,
            updateable=False,
            calculatedFormula="TODAY() - DATEVALUE(CreatedDate)",
            precision=18,
            scale=0,
        ),
        fld("Home_Studio__c", "picklist", "Home Studio", picklist=STUDIO_NAMES, restrictedPicklist=True),
        fld("Secondary_Studio__c", "picklist", "Secondary Studio", picklist=STUDIO_NAMES),
        fld("Preferred_Class__c", "picklist", "Preferred Class", picklist=CLASSES),
        fld("Interests__c", "multipicklist", "Interests", picklist=CLASSES),
        fld("Membership_Tier__c", "picklist", "Membership Tier", picklist=TIERS, restrictedPicklist=True),
        fld("Intro_Offer__c", "picklist", "Intro Offer", picklist=["None", "Free Class", "Two Weeks", "Month"]),
        fld(
            "Preferred_Contact_Time__c",
            "picklist",
            "Preferred Contact Time",
            picklist=["Morning", "Afternoon", "Evening", "Weekend"],
        ),
        fld("Gender__c", "picklist", "Gender", picklist=["Female", "Male", "Non-binary", "Prefer not to say"]),
        fld("Language__c", "picklist", "Language", picklist=["English", "Spanish", "Chinese", "French", "Other"]),
        fld(
            "Last_SMS_Status__c",
            "picklist",
            "Last SMS Status",
            picklist=["queued", "sent", "delivered", "failed", "received"],
        ),
        fld("Fitness_Goal__c", "textarea", "Fitness Goal", length=1000, extraTypeInfo="plaintextarea"),
        fld("Injuries__c", "textarea", "Injuries", length=32768, extraTypeInfo="plaintextarea"),
        fld("Survey_Response__c", "textarea", "Survey Response", length=131072, extraTypeInfo="plaintextarea"),
        fld(
            "Coach_Notes__c", "textarea", "Coach Notes", length=32768, extraTypeInfo="richtextarea", htmlFormatted=True
        ),
        fld("Short_Note__c", "textarea", "Short Note", length=255),
        fld("Trial_Start__c", "date", "Trial Start"),
        fld("Trial_End__c", "date", "Trial End"),
        fld("Birthday__c", "date", "Birthday"),
        fld("Follow_Up_Date__c", "date", "Follow-up Date"),
        fld("Consent_Date__c", "datetime", "Consent Date"),
        fld("Last_Visit__c", "datetime", "Last Visit"),
        fld("Last_SMS_At__c", "datetime", "Last SMS At"),
        fld("Age__c", "double", "Age", precision=3, scale=0),
        fld("Height_cm__c", "double", "Height (cm)", precision=5, scale=1),
        fld("Weight_kg__c", "double", "Weight (kg)", precision=5, scale=1),
        fld("Lead_Score__c", "double", "Lead Score", precision=5, scale=0),
        fld("Visits__c", "double", "Visits", precision=6, scale=0),
        fld("Classes_Attended__c", "double", "Classes Attended", precision=6, scale=0),
        fld("Budget__c", "currency", "Monthly Budget", precision=10, scale=2),
        fld("Discount_Percent__c", "percent", "Discount", precision=5, scale=2),
        fld("Emergency_Contact__c", "string", "Emergency Contact", length=120),
        fld("Emergency_Phone__c", "phone", "Emergency Phone"),
        fld("Work_Phone__c", "phone", "Work Phone"),
        fld("Instagram_Handle__c", "string", "Instagram Handle", length=60),
        fld("Referral_Code__c", "string", "Referral Code", length=20),
        fld("Referred_By__c", "string", "Referred By", length=120),
        fld("Favorite_Coach__c", "string", "Favorite Coach", length=80),
        fld("Promo_Code__c", "string", "Promo Code", length=20),
        fld("Time_Zone__c", "string", "Time Zone", length=40),
        fld("Sms_Consent_Source__c", "string", "SMS Consent Source", length=80),
        fld("Do_Not_Text_Reason__c", "string", "Do Not Text Reason", length=255),
        fld("Nurture_Stage__c", "string", "Nurture Stage", length=40),
        fld("Tags__c", "string", "Tags", length=255),
        fld("UTM_Source__c", "string", "UTM Source", length=100),
        fld("UTM_Medium__c", "string", "UTM Medium", length=100),
        fld("UTM_Campaign__c", "string", "UTM Campaign", length=100),
        fld("UTM_Term__c", "string", "UTM Term", length=100),
        fld("UTM_Content__c", "string", "UTM Content", length=100),
        fld("Landing_Page__c", "url", "Landing Page"),
        fld("Marketing_Consent__c", "boolean", "Marketing Consent"),
        fld("WhatsApp_Opt_In__c", "boolean", "WhatsApp Opt In"),
        fld("Trial_Booked__c", "boolean", "Trial Booked"),
        fld("Is_Student__c", "boolean", "Student"),
        fld("Corporate_Plan__c", "boolean", "Corporate Plan"),
    ]


def lead_fields() -> list[dict[str, Any]]:
    return [
        id_field(),
        system("MasterRecordId", "reference", referenceTo=["Lead"], relationshipName="MasterRecord"),
        *name_fields(),
        fld("Title", "string", length=128),
        fld("Company", "string", nillable=False, length=255),
        *address_fields("", ""),
        fld("Phone", "phone", "Phone"),
        fld("MobilePhone", "phone", "Mobile Phone"),
        fld("Fax", "phone", "Fax"),
        fld("Email", "email", "Email", idLookup=True),
        fld("Website", "url", "Website"),
        system("PhotoUrl", "url", label="Photo URL"),
        fld("Description", "textarea", "Description", length=32000, extraTypeInfo="plaintextarea"),
        fld("LeadSource", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        fld(
            "Status",
            "picklist",
            "Status",
            picklist=LEAD_STATUSES,
            default="Open - Not Contacted",
            nillable=False,
            restrictedPicklist=True,
        ),
        fld("Industry", "picklist", "Industry", picklist=INDUSTRIES),
        fld("Rating", "picklist", "Rating", picklist=["Hot", "Warm", "Cold"]),
        fld("AnnualRevenue", "currency", "Annual Revenue"),
        fld("NumberOfEmployees", "int", "Employees", digits=8),
        owner_field(),
        fld("HasOptedOutOfEmail", "boolean", "Email Opt Out"),
        system("IsConverted", "boolean", label="Converted"),
        system("ConvertedDate", "date", label="Converted Date"),
        system(
            "ConvertedAccountId",
            "reference",
            label="Converted Account ID",
            referenceTo=["Account"],
            relationshipName="ConvertedAccount",
        ),
        system(
            "ConvertedContactId",
            "reference",
            label="Converted Contact ID",
            referenceTo=["Contact"],
            relationshipName="ConvertedContact",
        ),
        system(
            "ConvertedOpportunityId",
            "reference",
            label="Converted Opportunity ID",
            referenceTo=["Opportunity"],
            relationshipName="ConvertedOpportunity",
        ),
        fld("IsUnreadByOwner", "boolean", "Unread By Owner"),
        *audit_fields(),
        system("LastActivityDate", "date", label="Last Activity"),
        fld("DoNotCall", "boolean", "Do Not Call"),
        fld("HasOptedOutOfFax", "boolean", "Fax Opt Out"),
        system("LastViewedDate", "datetime"),
        system("LastReferencedDate", "datetime"),
        system("LastTransferDate", "date"),
        fld("Jigsaw", "string", "Data.com Key", length=20),
        system("JigsawContactId", "string", length=20),
        fld("EmailBouncedReason", "string", "Email Bounced Reason"),
        fld("EmailBouncedDate", "datetime", "Email Bounced Date"),
        ref("IndividualId", ["Individual"], "Individual", label="Individual ID"),
        *_lead_custom_fields(),
    ]


def contact_fields() -> list[dict[str, Any]]:
    return [
        id_field(),
        system("MasterRecordId", "reference", referenceTo=["Contact"], relationshipName="MasterRecord"),
        ref("AccountId", ["Account"], "Account", label="Account ID"),
        *name_fields(),
        *address_fields("Other", "Other"),
        *address_fields("Mailing", "Mailing"),
        fld("Phone", "phone", "Business Phone"),
        fld("Fax", "phone", "Business Fax"),
        fld("MobilePhone", "phone", "Mobile Phone"),
        fld("HomePhone", "phone", "Home Phone"),
        fld("OtherPhone", "phone", "Other Phone"),
        fld("AssistantPhone", "phone", "Asst. Phone"),
        ref("ReportsToId", ["Contact"], "ReportsTo", label="Reports To ID"),
        fld("Email", "email", "Email", idLookup=True),
        fld("Title", "string", length=128),
        fld("Department", "string", length=80),
        fld("AssistantName", "string", "Assistant's Name", length=40),
        fld("LeadSource", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        fld("Birthdate", "date", "Birthdate"),
        fld("Description", "textarea", "Contact Description", length=32000, extraTypeInfo="plaintextarea"),
        owner_field(),
        fld("HasOptedOutOfEmail", "boolean", "Email Opt Out"),
        fld("DoNotCall", "boolean", "Do Not Call"),
        *audit_fields(),
        system("LastActivityDate", "date", label="Last Activity"),
        fld("SMS_Opt_Out__c", "boolean", "SMS Opt Out"),
        fld("Studio__c", "string", "Studio", length=80),
        fld("Leadline_Id__c", "string", "Leadline ID", length=64, externalId=True, unique=True, idLookup=True),
        fld("External_Ref__c", "string", "External Reference", length=80, externalId=True, idLookup=True),
    ]


def account_fields() -> list[dict[str, Any]]:
    return [
        id_field(),
        system("MasterRecordId", "reference", referenceTo=["Account"], relationshipName="MasterRecord"),
        fld("Name", "string", "Account Name", nillable=False, nameField=True, idLookup=False),
        fld(
            "Type",
            "picklist",
            "Account Type",
            picklist=["Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"],
        ),
        ref("ParentId", ["Account"], "Parent", label="Parent Account ID"),
        *address_fields("Billing", "Billing"),
        *address_fields("Shipping", "Shipping"),
        fld("Phone", "phone", "Account Phone"),
        fld("Fax", "phone", "Account Fax"),
        fld("AccountNumber", "string", "Account Number", length=40),
        fld("Website", "url", "Website"),
        fld("Industry", "picklist", "Industry", picklist=INDUSTRIES),
        fld("AnnualRevenue", "currency", "Annual Revenue"),
        fld("NumberOfEmployees", "int", "Employees", digits=8),
        fld("Description", "textarea", "Account Description", length=32000, extraTypeInfo="plaintextarea"),
        owner_field(),
        *audit_fields(),
        system("LastActivityDate", "date", label="Last Activity"),
        fld("Leadline_Id__c", "string", "Leadline ID", length=64, externalId=True, unique=True, idLookup=True),
    ]


def opportunity_fields() -> list[dict[str, Any]]:
    return [
        id_field(),
        ref("AccountId", ["Account"], "Account", label="Account ID"),
        fld("Name", "string", "Name", nillable=False, length=120, nameField=True),
        fld("Description", "textarea", length=32000, extraTypeInfo="plaintextarea"),
        fld("StageName", "picklist", "Stage", picklist=OPPORTUNITY_STAGES, nillable=False, restrictedPicklist=True),
        fld("Amount", "currency", "Amount"),
        fld("Probability", "percent", "Probability (%)", precision=3, scale=0),
        fld("CloseDate", "date", "Close Date", nillable=False),
        fld("Type", "picklist", "Opportunity Type", picklist=["Existing Business", "New Business"]),
        fld("LeadSource", "picklist", "Lead Source", picklist=LEAD_SOURCES),
        system("IsClosed", "boolean", label="Closed"),
        system("IsWon", "boolean", label="Won"),
        fld(
            "ForecastCategoryName",
            "picklist",
            "Forecast Category",
            picklist=["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
        ),
        ref("ContactId", ["Contact"], "Contact", label="Contact ID"),
        owner_field(),
        *audit_fields(),
        system("LastActivityDate", "date", label="Last Activity"),
        fld(
            "Expected_Revenue_Formula__c",
            "currency",
            "Expected Revenue",
            calculated=True,
            createable=False,
            updateable=False,
            calculatedFormula="Amount * Probability",
        ),
        fld("Leadline_Id__c", "string", "Leadline ID", length=64, externalId=True, unique=True, idLookup=True),
    ]


def task_fields() -> list[dict[str, Any]]:
    return [
        id_field(),
        ref("WhoId", ["Contact", "Lead"], "Who", label="Name ID"),
        ref("WhatId", ["Account", "Opportunity"], "What", label="Related To ID"),
        system("WhoCount", "int", label="Relation Count"),
        system("WhatCount", "int", label="Related To Count"),
        fld("Subject", "combobox", "Subject", picklist=["Call", "Send Letter", "Send Quote", "Other"]),
        fld("ActivityDate", "date", "Due Date Only"),
        fld(
            "Status",
            "picklist",
            "Status",
            picklist=TASK_STATUSES,
            default="Not Started",
            nillable=False,
            restrictedPicklist=True,
        ),
        fld(
            "Priority",
            "picklist",
            "Priority",
            picklist=["High", "Normal", "Low"],
            default="Normal",
            nillable=False,
            restrictedPicklist=True,
        ),
        system("IsHighPriority", "boolean", label="High Priority"),
        owner_field(),
        fld("Description", "textarea", "Description", length=32000, extraTypeInfo="plaintextarea"),
        fld("Type", "picklist", "Type", picklist=TASK_TYPES),
        fld(
            "TaskSubtype",
            "picklist",
            "Task Subtype",
            updateable=False,
            picklist=["Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"],
        ),
        system("IsClosed", "boolean", label="Closed"),
        system("AccountId", "reference", label="Account ID", referenceTo=["Account"], relationshipName="Account"),
        fld("CompletedDateTime", "datetime", "Completed Date/Time", createable=False, updateable=False),
        fld("CallDurationInSeconds", "int", "Call Duration"),
        fld("CallType", "picklist", "Call Type", picklist=["Internal", "Inbound", "Outbound"]),
        fld("CallDisposition", "string", "Call Result"),
        fld("ReminderDateTime", "datetime", "Reminder Date/Time"),
        fld("IsReminderSet", "boolean", "Reminder Set"),
        *audit_fields(),
        fld(
            "Leadline_Message_Id__c",
            "string",
            "Leadline Message ID",
            length=64,
            externalId=True,
            unique=True,
            idLookup=True,
        ),
    ]


def user_fields() -> list[dict[str, Any]]:
    return [
        id_field(),
        fld("Username", "string", nillable=False, length=80, unique=True, idLookup=True),
        fld("LastName", "string", nillable=False, length=80),
        fld("FirstName", "string", length=40),
        system("Name", "string", label="Full Name", length=121, nameField=True),
        fld("Email", "email", nillable=False),
        fld("IsActive", "boolean", "Active"),
        fld("Alias", "string", nillable=False, length=8),
        fld("Title", "string", length=80),
        fld("Phone", "phone"),
        fld("MobilePhone", "phone", "Mobile"),
        fld(
            "TimeZoneSidKey",
            "picklist",
            "Time Zone",
            nillable=False,
            picklist=["America/Los_Angeles", "America/New_York", "America/Chicago", "Europe/London"],
        ),
        fld("LocaleSidKey", "picklist", "Locale", nillable=False, picklist=["en_US", "en_GB", "es_US"]),
        fld("LanguageLocaleKey", "picklist", "Language", nillable=False, picklist=["en_US", "es"]),
        fld(
            "UserType",
            "picklist",
            "User Type",
            createable=False,
            updateable=False,
            picklist=["Standard", "PowerPartner", "CsnOnly"],
        ),
        fld("ProfileId", "reference", "Profile ID", referenceTo=["Profile"], relationshipName="Profile"),
        fld("UserRoleId", "reference", "Role ID", referenceTo=["UserRole"], relationshipName="UserRole"),
        system("IsDeleted", "boolean", label="Deleted"),
        *[item for item in audit_fields() if item["name"] != "IsDeleted"],
    ]


LABELS = {
    "Lead": ("Lead", "Leads"),
    "Contact": ("Contact", "Contacts"),
    "Account": ("Account", "Accounts"),
    "Opportunity": ("Opportunity", "Opportunities"),
    "Task": ("Task", "Tasks"),
    "User": ("User", "Users"),
}
FIELDS_OF = {
    "Account": account_fields,
    "Contact": contact_fields,
    "Lead": lead_fields,
    "Opportunity": opportunity_fields,
    "Task": task_fields,
    "User": user_fields,
}
SOBJECTS = tuple(FIELDS_OF)


@dataclass
class SobjectSchema:
    name: str
    fields: list[dict[str, Any]]
    label: str = ""
    label_plural: str = ""
    key_prefix: str = ""
    by_lower: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.by_lower = {meta["name"].lower(): meta for meta in self.fields}

    def field(self, name: str) -> dict[str, Any] | None:
        """A field's describe entry by name, compared case-insensitively."""
        return self.by_lower.get(name.lower()) if isinstance(name, str) else None

    def drop(self, name: str) -> bool:
        """Remove a field (an org without it: e.g. no Leadline_Message_Id__c on Task)."""
        meta = self.field(name)
        if meta is None:
            return False
        self.fields.remove(meta)
        self.reindex()
        return True

    @property
    def names(self) -> list[str]:
        return [meta["name"] for meta in self.fields]

    @property
    def required(self) -> list[str]:
        """Fields a create must give: not nillable, createable, no default (cached until the fields change)."""
        cached = self.__dict__.get("_required")
        if cached is None or cached[0] != len(self.fields):
            names = [
                meta["name"]
                for meta in self.fields
                if not meta["nillable"] and meta["createable"] and not meta["defaultedOnCreate"]
            ]
            cached = self.__dict__["_required"] = (len(self.fields), names)
        return cached[1]

    @property
    def phone_fields(self) -> list[str]:
        return [meta["name"] for meta in self.fields if meta["type"] == "phone"]

    @property
    def long_text_fields(self) -> list[str]:
        return [meta["name"] for meta in self.fields if meta["type"] == "textarea" and meta["length"] >= LONG_TEXT_MIN]

    @property
    def external_id_fields(self) -> list[str]:
        return [meta["name"] for meta in self.fields if meta["externalId"]]

    @property
    def compound_fields(self) -> list[str]:
        return [meta["name"] for meta in self.fields if meta["type"] in ("address", "location")]

    def default_of(self, name: str) -> Any:
        """What a record shows for a field it has no value for: booleans false, everything else null."""
        meta = self.field(name)
        return False if meta is not None and meta["type"] == "boolean" else None

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "describe": f"{base}/describe",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        }

    def global_entry(self, version: str) -> dict[str, Any]:
        """The object's entry in describe global (`GET sobjects`)."""
        writable = self.name != "User"
        return {
            "activateable": False,
            "createable": True,
            "custom": False,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": writable,
            "deprecatedAndHidden": False,
            "feedEnabled": True,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": True,
            "mergeable": self.name in ("Lead", "Contact", "Account"),
            "mruEnabled": True,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": True,
            "triggerable": True,
            "undeletable": writable,
            "updateable": True,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        """`GET sobjects/<X>/describe`."""
        result = self.global_entry(version)
        result.update(
            {
                "actionOverrides": [],
                "childRelationships": [],
                "compactLayoutable": True,
                "defaultImplementation": None,
                "extendedBy": None,
                "extendsInterfaces": None,
                "fields": copy.deepcopy(self.fields),
                "implementedBy": None,
                "implementsInterfaces": None,
                "listviewable": None,
                "lookupLayoutable": None,
                "namedLayoutInfos": [],
                "networkScopeFieldName": None,
                "recordTypeInfos": [
                    {
                        "active": True,
                        "available": True,
                        "defaultRecordTypeMapping": True,
                        "developerName": "Master",
                        "master": True,
                        "name": "Master",
                        "recordTypeId": "012000000000000AAA",
                        "urls": {
                            "layout": f"/services/data/v{version}/sobjects/{self.name}/describe/layouts/"
                            "012000000000000AAA"
                        },
                    }
                ],
                "searchLayoutable": True,
                "sobjectDescribeOption": "FULL",
                "supportedScopes": [{"label": "All", "name": "everything"}, {"label": "Mine", "name": "mine"}],
            }
        )
        return result


def build_schemas() -> dict[str, SobjectSchema]:
    """A fresh schema for each served sObject (an org owns its copy)."""
    return {
        name: SobjectSchema(
            name, make(), label=LABELS[name][0], label_plural=LABELS[name][1], key_prefix=KEY_PREFIXES[name]
        )
        for name, make in FIELDS_OF.items()
    }
