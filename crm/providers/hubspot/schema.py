"""HubSpot's object schema: property definitions (`GET crm/properties/<version>/<objectType>`) typed as Leadline's
field specs, and the names the reads and the mapping need per object type.

Every property HubSpot lists for an object (archived ones left out) becomes a FieldSpec; the reads ask for all of
them by default. A property's `type` (data type: string, number, date, datetime, enumeration, bool) and
`fieldType` (how the UI edits it: text, select, checkbox, booleancheckbox, phonenumber, ...) decide its FieldType:

- `fieldType` phonenumber, or a well-known phone property (phone, mobilephone), -> PHONE;
- `booleancheckbox` or `type` bool -> BOOLEAN; `enumeration` -> PICKLIST (MULTI_PICKLIST for `checkbox`, whose
  values are `;`-separated) with the visible options as choices;
- datetime -> DATETIME, date -> DATE, number -> DECIMAL (NUMBER for ids: associatedcompanyid, *_id);
- the owner property (`hubspot_owner_id`, or any with referencedObjectType OWNER) -> USER;
- email -> EMAIL; the rest TEXT.

Read-only: `modificationMetadata.readOnlyValue` or `calculated`. Unique (usable as an upsert's idProperty):
`hasUniqueValue`. Custom: not `hubspotDefined`. Standard properties keep HubSpot's names as their keys except the
few the product reads by Leadline's names (firstname -> first_name, lastname -> last_name ...); a USER or LOOKUP
property's value sits at `<key>_id` like every CRM's (its key is the name without `_id`), so it is read at its
own name. Associations are flattened into read-only fields: a contact's company (`company_id`), a deal's contacts
and companies (`contact_ids`, `company_ids`). A contact's company comes from its `associatedcompanyid` (HubSpot's
"Primary Associated Company ID", which the search already returns: no association call), where the portal defines
that property (ASSOCIATION_PROPERTIES); the other associations are read with the v4 batch read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm.records import FieldSpec, FieldType, ObjectSpec

# The modified-time property search filters and sorts on (contacts have their own name for it).
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}
DEFAULT_MODIFIED_PROPERTY = "hs_lastmodifieddate"
ID_PROPERTY = "hs_object_id"
OWNER_PROPERTY = "hubspot_owner_id"
# The properties that name a record, per object type (joined with a space).
NAME_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname"),
    "companies": ("name",),
    "deals": ("dealname",),
    "tasks": ("hs_task_subject",),
}
CREATED_PROPERTIES = ("createdate", "hs_createdate")
# Phone properties HubSpot defines on contacts and companies, typed PHONE even where a portal's definition says text.
KNOWN_PHONE_PROPERTIES = frozenset({"phone", "mobilephone"})
# Standard properties the product reads by Leadline's own keys (record.get("first_name")).
STANDARD_KEYS = {
    "firstname": "first_name",
    "lastname": "last_name",
    "mobilephone": "mobile_phone",
    "lifecyclestage": "lifecycle_stage",
    "jobtitle": "job_title",
    "hs_lead_status": "lead_status",
}
# Associations read with the records, flattened: (to object type, key in `fields`, canonical target, many).
ASSOCIATIONS: dict[str, tuple[tuple[str, str, str, bool], ...]] = {
    "contacts": (("companies", "company_id", "account", False),),
    "deals": (("contacts", "contact_ids", "contact", True), ("companies", "company_ids", "account", True)),
}
# Associations a record names in one of its own properties: (object type, to type) -> that property. A contact's
# associatedcompanyid is its primary company, set when a primary contact -> company association is made.
ASSOCIATION_PROPERTIES: dict[tuple[str, str], str] = {("contacts", "companies"): "associatedcompanyid"}
# The record's own columns (CanonicalRecord.id, email, owner_id, times): not repeated in `fields`.
COLUMN_KEYS = {ID_PROPERTY: "id", "email": "email", OWNER_PROPERTY: "owner"}
ID_SUFFIXES = ("_id", "companyid", "objectid")


def modified_property(object_type: str) -> str:
    return MODIFIED_PROPERTY.get(object_type, DEFAULT_MODIFIED_PROPERTY)


def _field_type(prop: Mapping[str, Any]) -> FieldType:
    name = str(prop.get("name") or "")
    data_type = str(prop.get("type") or "").lower()
    ui_type = str(prop.get("fieldType") or "").lower()
    if name == OWNER_PROPERTY or str(prop.get("referencedObjectType") or "").upper() == "OWNER":
        return FieldType.USER
    if ui_type == "phonenumber" or name in KNOWN_PHONE_PROPERTIES:
        return FieldType.PHONE
    if ui_type == "booleancheckbox" or data_type in ("bool", "boolean"):
        return FieldType.BOOLEAN
    if data_type == "enumeration":
        return FieldType.MULTI_PICKLIST if ui_type == "checkbox" else FieldType.PICKLIST
    if data_type == "datetime":
        return FieldType.DATETIME
    if data_type == "date":
        return FieldType.DATE
    if data_type == "number":
        # A number naming another record (associatedcompanyid, hs_..._id) is an id: an integer, never a float.
        return FieldType.NUMBER if name.endswith(ID_SUFFIXES) else FieldType.DECIMAL
    if name == "email" or ui_type == "email":
        return FieldType.EMAIL
    return FieldType.TEXT


def _key(name: str, field_type: FieldType, custom: bool, modified: str) -> str:
    if custom:
        return name
    if name == modified:
        return "modified_time"
    if name in CREATED_PROPERTIES:
        return "created_time"
    if name in COLUMN_KEYS:
        return COLUMN_KEYS[name]
    if field_type in (FieldType.USER, FieldType.LOOKUP):
        return name[:-3] if name.endswith("_id") and len(name) > 3 else name
    return STANDARD_KEYS.get(name, name)


@dataclass
class ObjectSchema:
    """One object type's properties, read once: their specs, and where each value goes in a CanonicalRecord."""

    object: str  # Leadline's name (lead, account ...)
    object_type: str  # HubSpot's (contacts, companies ...)
    spec: ObjectSpec
    properties: tuple[str, ...]  # every readable property, in the properties API's order
    types: dict[str, FieldType] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    custom: frozenset[str] = frozenset()
    unique: frozenset[str] = frozenset()
    # where mapping.py puts each property's value (its Routes, built there on first use)
    routes: Any = field(default=None, repr=False, compare=False)

    @property
    def modified_property(self) -> str:
        return modified_property(self.object_type)

    def read_properties(self, chosen: Iterable[str] = (), *, also: Iterable[str] = ()) -> tuple[str, ...]:
        """What reads ask for: every property (the default), or the chosen ones that exist plus those every record
        needs (id, times, name, e-mail, owner, phones) and `also` (the association properties read)."""
        wanted = set(chosen)
        if not wanted:
            return self.properties
        needed = {ID_PROPERTY, self.modified_property, OWNER_PROPERTY, "email", *CREATED_PROPERTIES, *also}
        needed |= set(NAME_PROPERTIES.get(self.object_type, ())) | set(self.phone_properties)
        return tuple(name for name in self.properties if name in wanted or name in needed)

    @property
    def phone_properties(self) -> tuple[str, ...]:
        return tuple(name for name in self.properties if self.types.get(name) == FieldType.PHONE)

    @property
    def associations(self) -> tuple[tuple[str, str, str, bool], ...]:
        return ASSOCIATIONS.get(self.object_type, ())

    def association_property(self, to_type: str) -> str:
        """The property naming this object's (primary) associated record of `to_type`, when the portal defines it;
        "" when that association is only read with the associations API."""
        name = ASSOCIATION_PROPERTIES.get((self.object_type, to_type), "")
        return name if name in self.types else ""


def schema_build(
    *, object: str, object_type: str, definitions: Iterable[Mapping[str, Any]], label: str = ""
) -> ObjectSchema:
    """The schema of an object type from its property definitions (the properties API's `results`)."""
    modified = modified_property(object_type)
    specs: list[FieldSpec] = []
    names: list[str] = []
    types: dict[str, FieldType] = {}
    keys: dict[str, str] = {}
    custom_names: set[str] = set()
    unique: set[str] = set()
    for prop in definitions:
        name = str(prop.get("name") or "")
        if not name or prop.get("archived") or name in types:
            continue
        field_type = _field_type(prop)
        custom = not prop.get("hubspotDefined", False)
        metadata = prop.get("modificationMetadata") or {}
        key = _key(name, field_type, custom, modified)
        names.append(name)
        types[name] = field_type
        keys[name] = key
        if custom:
            custom_names.add(name)
        if prop.get("hasUniqueValue"):
            unique.add(name)
        if name == ID_PROPERTY:
            continue  # the record's id, not one of its fields
        specs.append(
            FieldSpec(
                name=name,
                type=field_type,
                key=key,
                label=str(prop.get("label") or ""),
                custom=custom,
                read_only=bool(metadata.get("readOnlyValue") or prop.get("calculated")),
                unique=bool(prop.get("hasUniqueValue")),
                choices=tuple(
                    str(option.get("value"))
                    for option in prop.get("options") or []
                    if option.get("value") is not None and not option.get("hidden")
                )
                if field_type in (FieldType.PICKLIST, FieldType.MULTI_PICKLIST)
                else (),
                vendor_type=f"{prop.get('type') or ''}/{prop.get('fieldType') or ''}",
            )
        )
    for to_type, key, target, many in ASSOCIATIONS.get(object_type, ()):
        specs.append(
            FieldSpec(
                name=f"associations.{to_type}",
                type=FieldType.JSON if many else FieldType.LOOKUP,
                key=key if many else key[: -len("_id")],
                label=f"Associated {to_type}",
                read_only=True,
                lookup_target="" if many else target,
                vendor_type="association",
            )
        )
    name_properties = NAME_PROPERTIES.get(object_type, ())
    spec = ObjectSpec(
        name=object,
        vendor_name=object_type,
        fields=tuple(specs),
        label=label or object_type.capitalize(),
        name_field=name_properties[-1] if name_properties else "",
        modified_time_field=modified,
    )
    return ObjectSchema(
        object=object,
        object_type=object_type,
        spec=spec,
        properties=tuple(names),
        types=types,
        keys=keys,
        custom=frozenset(custom_names),
        unique=frozenset(unique),
    )
