"""Dataverse's table metadata typed as Leadline's field specs, and the names the reads and the mapping need per table.

A table's definition (`EntityDefinitions(LogicalName='lead')`: EntitySetName, PrimaryIdAttribute,
PrimaryNameAttribute, ChangeTrackingEnabled, IsActivity, DisplayName) and its attributes
(`.../Attributes`: LogicalName, AttributeType, RequiredLevel, IsValidForCreate/Update, IsCustomAttribute,
FormatName, Targets, DisplayName) become one `TableSchema`; picklist options (`.../PicklistAttributeMetadata
?$expand=OptionSet`) give option sets their labels. `schema_read` asks the client for the three and keeps the
answers five minutes in the cache, so a column added (or tracking switched) in the environment is seen soon.

An attribute's AttributeType (and FormatName for strings) decides its FieldType:

- String/Memo: FormatName Phone -> PHONE, Email -> EMAIL, Url -> URL, else TEXT;
- Boolean -> BOOLEAN; Integer/BigInt -> NUMBER; Decimal/Double -> DECIMAL; Money -> CURRENCY;
- DateTime -> DATETIME (DATE when its format is DateOnly); Picklist/State/Status -> PICKLIST,
  MultiSelectPicklist -> MULTI_PICKLIST;
- Lookup/Customer -> LOOKUP (lookup_target: the canonical name of its first target), Owner -> USER;
- Uniqueidentifier, Virtual, EntityName, ManagedProperty, PartyList, CalendarRules, and the columns that are
  another attribute's shadow (AttributeOf: lookups' name columns, yomi names) are not read.

Lookups are read as `_<name>_value` (the Web API names a lookup's id so in `$select` and in rows) and flattened by the
mapping into two fields: `<name>` (the id) and `<name>_name` (its display name, the FormattedValue annotation).
Option sets likewise: `<name>` (the value) and `<name>_label`. Custom columns (IsCustomAttribute, the publisher
prefix such as `lh_`) go into a record's custom_fields by their logical name; standard ones keep their logical
names as keys except the few the product reads by Leadline's names (firstname -> first_name ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from crm.records import FieldSpec, FieldType, ObjectSpec

METADATA_CACHE_SECONDS = 300  # a column added (or tracking switched) in the environment is seen within five minutes

MODIFIED_COLUMN = "modifiedon"
CREATED_COLUMN = "createdon"
OWNER_COLUMN = "ownerid"
EMAIL_COLUMN = "emailaddress1"
VERSION_COLUMN = "versionnumber"
# The attribute types a row never carries as a plain value (or the Web API does not return).
UNREAD_TYPES = frozenset(
    {"virtual", "entityname", "managedproperty", "partylist", "calendarrules", "uniqueidentifier", "image", "file"}
)
LOOKUP_TYPES = frozenset({"lookup", "customer"})
OPTION_TYPES = frozenset({"picklist", "state", "status"})
# Standard columns the product reads by Leadline's own keys (record.get("first_name")).
STANDARD_KEYS = {
    "firstname": "first_name",
    "lastname": "last_name",
    "mobilephone": "mobile_phone",
    "jobtitle": "job_title",
    "companyname": "company",
}
# Columns that name a record when the table's primary name column is empty (lead/contact fullname is computed).
NAME_PARTS = ("firstname", "lastname")
# Dataverse's table names -> Leadline's canonical names (lookup targets are named so).
CANONICAL_TABLES = {"lead": "lead", "contact": "contact", "account": "account", "opportunity": "deal", "task": "task"}
# Known phone columns, typed PHONE even where an environment's metadata leaves out FormatName.
KNOWN_PHONE_COLUMNS = frozenset({"telephone1", "telephone2", "telephone3", "mobilephone"})


def label_of(value: Any) -> str:
    """A metadata Label ({UserLocalizedLabel: {Label}} or {LocalizedLabels: [{Label}]}) as text."""
    if not isinstance(value, Mapping):
        return str(value or "")
    localized = value.get("UserLocalizedLabel")
    if isinstance(localized, Mapping) and localized.get("Label"):
        return str(localized["Label"])
    for item in value.get("LocalizedLabels") or []:
        if isinstance(item, Mapping) and item.get("Label"):
            return str(item["Label"])
    return str(value.get("Label") or "")


def _value_of(value: Any) -> str:
    """A managed value ({Value: "Phone"}) or a plain one, as text."""
    if isinstance(value, Mapping):
        return str(value.get("Value") or "")
    return str(value or "")


def attribute_type(attribute: Mapping[str, Any]) -> str:
    """The attribute's type, lower-case (AttributeType; AttributeTypeName's value when that says more, e.g.
    MultiSelectPicklistType)."""
    type_name = _value_of(attribute.get("AttributeTypeName")).lower()
    if type_name == "multiselectpicklisttype":
        return "multiselectpicklist"
    return str(attribute.get("AttributeType") or type_name.removesuffix("type")).lower()


def field_type_of(attribute: Mapping[str, Any]) -> FieldType | None:
    """The FieldType of an attribute definition; None for the attributes a row does not carry as a value."""
    name = str(attribute.get("LogicalName") or "")
    kind = attribute_type(attribute)
    format_name = _value_of(attribute.get("FormatName") or attribute.get("Format")).lower()
    if kind in UNREAD_TYPES or attribute.get("AttributeOf"):
        return None
    if kind in ("string", "memo"):
        if format_name == "phone" or name in KNOWN_PHONE_COLUMNS:
            return FieldType.PHONE
        if format_name == "email" or name.startswith("emailaddress"):
            return FieldType.EMAIL
        if format_name == "url":
            return FieldType.URL
        return FieldType.TEXT
    simple = {
        "boolean": FieldType.BOOLEAN,
        "integer": FieldType.NUMBER,
        "bigint": FieldType.NUMBER,
        "decimal": FieldType.DECIMAL,
        "double": FieldType.DECIMAL,
        "money": FieldType.CURRENCY,
        "multiselectpicklist": FieldType.MULTI_PICKLIST,
        "owner": FieldType.USER,
    }
    if kind in simple:
        return simple[kind]
    if kind == "datetime":
        return FieldType.DATE if format_name in ("dateonly", "date") else FieldType.DATETIME
    if kind in OPTION_TYPES:
        return FieldType.PICKLIST
    if kind in LOOKUP_TYPES:
        return FieldType.LOOKUP
    return FieldType.TEXT


def value_column(name: str, field_type: FieldType) -> str:
    """Where a column's value sits in a Web API row (and how `$select` names it): `_<name>_value` for lookups."""
    return f"_{name}_value" if field_type in (FieldType.LOOKUP, FieldType.USER) else name


@dataclass
class TableSchema:
    """One table's metadata, read once: its names, its columns typed, and where each value goes."""

    object: str  # Leadline's name (lead, deal ...)
    logical_name: str  # Dataverse's (lead, opportunity ...)
    entity_set: str  # the Web API's collection (leads, opportunities ...)
    primary_id: str  # leadid
    primary_name: str  # fullname, name, subject
    change_tracking: bool
    spec: ObjectSpec
    types: dict[str, FieldType] = field(default_factory=dict)  # logical name -> type, in metadata order
    keys: dict[str, str] = field(default_factory=dict)  # logical name -> key in fields/custom_fields
    custom: frozenset[str] = frozenset()
    options: dict[str, dict[int, str]] = field(default_factory=dict)  # option set columns: value -> label
    is_activity: bool = False
    # how mapping.py routes each column (built there on first use)
    routes: Any = field(default=None, repr=False, compare=False)

    @property
    def phone_columns(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.types.items() if kind == FieldType.PHONE)

    @property
    def select(self) -> tuple[str, ...]:
        """The `$select` of every read: the primary id and every readable column (lookups as `_<name>_value`)."""
        columns = [self.primary_id]
        columns += [value_column(name, kind) for name, kind in self.types.items() if name != self.primary_id]
        return tuple(dict.fromkeys(columns))

    def column(self, name: str) -> str:
        """A column's name in rows and filters (`_<name>_value` for a lookup); the name as is when unknown."""
        kind = self.types.get(name)
        return value_column(name, kind) if kind is not None else name


def _key(name: str, field_type: FieldType, custom: bool) -> str:
    if custom:
        return name
    if name == MODIFIED_COLUMN:
        return "modified_time"
    if name == CREATED_COLUMN:
        return "created_time"
    if name == EMAIL_COLUMN:
        return "email"
    if name == OWNER_COLUMN:
        return "owner"
    return STANDARD_KEYS.get(name, name)


def options_by_column(answer: Any) -> dict[str, dict[int, str]]:
    """Option set values and labels per column: from the client's {column: [{value, label}]}, or from
    PicklistAttributeMetadata rows with their OptionSet expanded ([{LogicalName, OptionSet: {Options}}])."""
    if isinstance(answer, Mapping):
        pairs = [(name, options) for name, options in answer.items()]
    else:
        pairs = [
            (definition.get("LogicalName"), (definition.get("OptionSet") or {}).get("Options"))
            for definition in answer or []
        ]
    found: dict[str, dict[int, str]] = {}
    for name, options in pairs:
        labels: dict[int, str] = {}
        for option in options or []:
            value = option.get("value", option.get("Value"))
            try:
                labels[int(value)] = label_of(option.get("label", option.get("Label")))
            except (TypeError, ValueError):
                continue
        if name:
            found[str(name)] = labels
    return found


def schema_build(
    *,
    object: str,
    definition: Mapping[str, Any],
    attributes: Iterable[Mapping[str, Any]],
    options: Mapping[str, Mapping[int, str]] | None = None,
    keys: Iterable[Mapping[str, Any]] = (),
) -> TableSchema:
    """The schema of a table from its definition, attributes, picklist options and alternate keys (the metadata
    answers). A column that is an alternate key alone (lh_leadlineid) is `unique`: upserts may name rows by it."""
    unique_columns = unique_key_columns(keys)
    logical = str(definition.get("LogicalName") or "")
    primary_id = str(definition.get("PrimaryIdAttribute") or f"{logical}id")
    primary_name = str(definition.get("PrimaryNameAttribute") or "")
    options = {name: dict(values) for name, values in (options or {}).items()}
    specs: list[FieldSpec] = []
    types: dict[str, FieldType] = {}
    keys: dict[str, str] = {}
    custom_names: set[str] = set()
    for attribute in attributes:
        name = str(attribute.get("LogicalName") or "")
        if not name or name in types or name == primary_id:
            continue
        field_type = field_type_of(attribute)
        if field_type is None:
            continue
        custom = bool(attribute.get("IsCustomAttribute"))
        key = _key(name, field_type, custom)
        types[name] = field_type
        keys[name] = key
        if custom:
            custom_names.add(name)
        targets = [str(target) for target in attribute.get("Targets") or []]
        required = _value_of(attribute.get("RequiredLevel")) in ("ApplicationRequired", "SystemRequired")
        updatable = attribute.get("IsValidForUpdate", True) is not False
        # Option sets: their values (Dataverse writes and reads the numbers) and a person's word for each.
        chosen = options.get(name, {}) if field_type in (FieldType.PICKLIST, FieldType.MULTI_PICKLIST) else {}
        choices = tuple(str(value) for value in chosen)
        choice_labels = tuple(str(label or value) for value, label in chosen.items())
        specs.append(
            FieldSpec(
                name=name,
                type=field_type,
                key=key,
                label=label_of(attribute.get("DisplayName")) or name,
                custom=custom,
                required=required,
                # A column only a create may set (overriddencreatedon: a migration's) is no column to keep in sync.
                read_only=not updatable,
                unique=name in unique_columns,
                lookup_target=CANONICAL_TABLES.get(targets[0], targets[0]) if targets else "",
                choices=choices,
                choice_labels=choice_labels,
                vendor_type=attribute_type(attribute),
            )
        )
    spec = ObjectSpec(
        name=object,
        vendor_name=logical,
        fields=tuple(specs),
        label=label_of(definition.get("DisplayName")) or logical.capitalize(),
        name_field=primary_name,
        modified_time_field=MODIFIED_COLUMN,
    )
    return TableSchema(
        object=object,
        logical_name=logical,
        entity_set=str(definition.get("EntitySetName") or f"{logical}s"),
        primary_id=primary_id,
        primary_name=primary_name,
        change_tracking=bool(definition.get("ChangeTrackingEnabled")),
        spec=spec,
        types=types,
        keys=keys,
        custom=frozenset(custom_names),
        options=options,
        is_activity=bool(definition.get("IsActivity")),
    )


def unique_key_columns(keys: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """The columns that are an active alternate key on their own (a key index still building or failed is none)."""
    found = set()
    for key in keys or ():
        columns = [str(column) for column in key.get("KeyAttributes") or ()]
        status = str(key.get("EntityKeyIndexStatus") or "Active")
        if len(columns) == 1 and status == "Active":
            found.add(columns[0])
    return frozenset(found)


def keys_read(client: Any, logical_name: str) -> list[dict[str, Any]]:
    """The table's alternate keys; none when the environment will not say (a role without metadata access)."""
    from crm.providers.dynamics.errors import DataverseRejected

    reader = getattr(client, "alternate_keys", None)
    if reader is None:
        return []
    try:
        return [dict(key) for key in reader(logical_name) or ()]
    except DataverseRejected:
        return []


def schema_read(client: Any, *, object: str, logical_name: str, cache_key: str) -> TableSchema:
    """A table's schema from the Web API's metadata (its definition, attributes, option sets and alternate keys:
    four to six calls), the answers kept METADATA_CACHE_SECONDS under `cache_key` for every worker."""
    held = cache.get(cache_key)
    if held is None or len(held) != 4:
        definition = dict(client.entity_definition(logical_name) or {})
        answer = client.attributes(logical_name)
        attributes = list(answer.get("value") or []) if isinstance(answer, Mapping) else list(answer or [])
        options = options_by_column(client.picklist_options(logical_name))
        held = (definition, attributes, options, keys_read(client, logical_name))
        cache.set(cache_key, held, METADATA_CACHE_SECONDS)
    definition, attributes, options, keys = held
    return schema_build(object=object, definition=definition, attributes=attributes, options=options, keys=keys)
