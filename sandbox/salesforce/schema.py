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

Layout: `schema_fields` (the field shape and its builders), `schema_objects` (each sObject's field table and the
picklist values), this module (`SobjectSchema`, the describe builder).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.ids import KEY_PREFIXES
from sandbox.salesforce.schema_objects import FIELDS_OF, LABELS, SOBJECTS

__all__ = ["LONG_TEXT_MIN", "SOBJECTS", "SobjectSchema", "build_schemas"]

LONG_TEXT_MIN = 256  # a textarea longer than 255 is long text (SOQL: "Change the Batch Size in Queries")


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
