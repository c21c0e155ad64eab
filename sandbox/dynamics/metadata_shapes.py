"""Table and column definitions as Dataverse's metadata Web API answers them (EntityMetadata, the
AttributeMetadata family with their derived properties, option sets, relationships, alternate keys), and the small
query language those collections accept: `$select`, `$filter` with eq/ne/and/or on plain properties."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sandbox.dynamics.calls import problem
from sandbox.dynamics.shapes import navigation_property
from sandbox.dynamics.state_tables import METADATA_CLASS, metadata_id

if TYPE_CHECKING:
    from sandbox.dynamics.state import Attribute, Environment, Table

LANGUAGE = 1033
BASE_ATTRIBUTE = (
    "MetadataId",
    "LogicalName",
    "SchemaName",
    "AttributeType",
    "AttributeTypeName",
    "RequiredLevel",
    "IsValidForCreate",
    "IsValidForUpdate",
    "IsValidForRead",
    "IsCustomAttribute",
    "IsPrimaryId",
    "IsPrimaryName",
    "EntityLogicalName",
    "DisplayName",
    "Description",
    "AttributeOf",
    "IsLogical",
    "IsManaged",
    "HasChanged",
)
DERIVED = {
    "StringAttributeMetadata": ("MaxLength", "Format", "FormatName", "DatabaseLength", "ImeMode"),
    "MemoAttributeMetadata": ("MaxLength", "Format", "FormatName"),
    "IntegerAttributeMetadata": ("MinValue", "MaxValue", "Format"),
    "BigIntAttributeMetadata": ("MinValue", "MaxValue"),
    "MoneyAttributeMetadata": ("Precision", "MinValue", "MaxValue", "PrecisionSource"),
    "DecimalAttributeMetadata": ("Precision", "MinValue", "MaxValue"),
    "DoubleAttributeMetadata": ("Precision", "MinValue", "MaxValue"),
    "DateTimeAttributeMetadata": ("Format", "DateTimeBehavior"),
    "LookupAttributeMetadata": ("Targets", "Format"),
    "PicklistAttributeMetadata": ("DefaultFormValue", "OptionSet", "GlobalOptionSet"),
    "StateAttributeMetadata": ("DefaultFormValue", "OptionSet"),
    "StatusAttributeMetadata": ("DefaultFormValue", "OptionSet"),
    "BooleanAttributeMetadata": ("DefaultValue", "OptionSet"),
    "EntityNameAttributeMetadata": (),
    "AttributeMetadata": (),
}
NAVIGATIONS = ("OptionSet", "GlobalOptionSet")  # come only with $expand


def label(text: str, seed: str) -> dict[str, Any]:
    one = {
        "Label": text,
        "LanguageCode": LANGUAGE,
        "IsManaged": True,
        "MetadataId": metadata_id(seed, "label"),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [one] if text else [], "UserLocalizedLabel": one if text else None}


def schema_name(logical: str) -> str:
    if logical.startswith("lh_"):
        return "lh_" + logical[3:].capitalize()
    return logical[:1].upper() + logical[1:]


def entity_json(table: Table) -> dict[str, Any]:
    return {
        "@odata.type": "#Microsoft.Dynamics.CRM.EntityMetadata",
        "MetadataId": table.metadata_id,
        "LogicalName": table.logical_name,
        "SchemaName": schema_name(table.logical_name),
        "EntitySetName": table.entity_set_name,
        "LogicalCollectionName": table.entity_set_name,
        "CollectionSchemaName": schema_name(table.entity_set_name),
        "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code,
        "ChangeTrackingEnabled": table.change_tracking,
        "IsActivity": table.is_activity,
        "IsCustomEntity": table.custom,
        "IsManaged": not table.custom,
        "IsValidForAdvancedFind": True,
        "HasActivities": not table.is_activity and table.logical_name not in ("systemuser", "businessunit"),
        "OwnershipType": "BusinessOwned" if table.logical_name in ("systemuser", "businessunit") else "UserOwned",
        "IsIntersect": False,
        "DisplayName": label(table.display_name, table.logical_name),
        "DisplayCollectionName": label(table.display_collection_name, table.logical_name + ":plural"),
        "Description": label("", table.logical_name + ":description"),
        "HasChanged": None,
    }


def type_name(attribute: Attribute) -> str:
    return {"Uniqueidentifier": "UniqueidentifierType"}.get(attribute.type, f"{attribute.type}Type")


def attribute_class(attribute: Attribute) -> str:
    return METADATA_CLASS.get(attribute.type, "AttributeMetadata")


def attribute_json(table: Table, attribute: Attribute, *, expand: tuple[str, ...] = ()) -> dict[str, Any]:
    kind = attribute_class(attribute)
    body: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{kind}",
        "MetadataId": attribute.metadata_id,
        "LogicalName": attribute.logical_name,
        "SchemaName": schema_name(attribute.logical_name),
        "AttributeType": attribute.type,
        "AttributeTypeName": {"Value": type_name(attribute)},
        "RequiredLevel": {
            "Value": attribute.required,
            "CanBeChanged": attribute.required != "SystemRequired",
            "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
        },
        "IsValidForCreate": attribute.valid_for_create,
        "IsValidForUpdate": attribute.valid_for_update,
        "IsValidForRead": attribute.valid_for_read,
        "IsCustomAttribute": attribute.custom,
        "IsPrimaryId": attribute.logical_name == table.primary_id,
        "IsPrimaryName": attribute.logical_name == table.primary_name,
        "EntityLogicalName": table.logical_name,
        "DisplayName": label(attribute.display_name, f"{table.logical_name}.{attribute.logical_name}"),
        "Description": label("", f"{table.logical_name}.{attribute.logical_name}:description"),
        "AttributeOf": None,
        "IsLogical": False,
        "IsManaged": not attribute.custom,
        "HasChanged": None,
    }
    if kind in ("StringAttributeMetadata", "MemoAttributeMetadata"):
        body.update(
            MaxLength=attribute.max_length,
            Format=attribute.format or "Text",
            FormatName={"Value": attribute.format or "Text"},
        )
        if kind == "StringAttributeMetadata":
            body.update(DatabaseLength=(attribute.max_length or 0) * 2, ImeMode="Auto")
    elif kind == "IntegerAttributeMetadata":
        body.update(MinValue=-2147483648, MaxValue=2147483647, Format="None")
    elif kind == "BigIntAttributeMetadata":
        body.update(MinValue=-9223372036854775808, MaxValue=9223372036854775807)
    elif kind in ("MoneyAttributeMetadata", "DecimalAttributeMetadata", "DoubleAttributeMetadata"):
        body.update(Precision=2, MinValue=-922337203685477, MaxValue=922337203685477)
        if kind == "MoneyAttributeMetadata":
            body["PrecisionSource"] = 2
    elif kind == "DateTimeAttributeMetadata":
        body.update(
            Format=attribute.format or "DateAndTime",
            DateTimeBehavior={"Value": "DateOnly" if attribute.format == "DateOnly" else "UserLocal"},
        )
    elif kind == "LookupAttributeMetadata":
        body.update(Targets=list(attribute.targets), Format=None)
    elif kind in ("PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata"):
        body["DefaultFormValue"] = attribute.options[0][0] if attribute.options else None
    elif kind == "BooleanAttributeMetadata":
        body["DefaultValue"] = False
    if "OptionSet" in expand and kind in (
        "PicklistAttributeMetadata",
        "StateAttributeMetadata",
        "StatusAttributeMetadata",
        "BooleanAttributeMetadata",
    ):
        body["OptionSet"] = option_set_json(table, attribute)
    if "GlobalOptionSet" in expand and kind == "PicklistAttributeMetadata":
        body["GlobalOptionSet"] = None
    return body


def option_set_json(table: Table, attribute: Attribute) -> dict[str, Any]:
    seed = f"{table.logical_name}.{attribute.logical_name}:options"
    body: dict[str, Any] = {
        "MetadataId": metadata_id(seed),
        "Name": f"{table.logical_name}_{attribute.logical_name}",
        "IsGlobal": False,
        "IsCustomOptionSet": attribute.custom,
        "IsManaged": not attribute.custom,
        "DisplayName": label(attribute.display_name, seed),
        "HasChanged": None,
    }
    options = attribute.options or ((0, "No"), (1, "Yes"))

    def option(value: int, text: str) -> dict[str, Any]:
        return {
            "Value": value,
            "Label": label(text, f"{seed}:{value}"),
            "Description": label("", f"{seed}:{value}d"),
            "Color": None,
            "IsManaged": True,
            "ExternalValue": None,
            "HasChanged": None,
        }

    if attribute.type == "Boolean":
        labels = dict(options)
        body.update(
            OptionSetType="Boolean",
            TrueOption=option(1, labels.get(1, "Yes")),
            FalseOption=option(0, labels.get(0, "No")),
        )
    else:
        body.update(OptionSetType=attribute.type, Options=[option(value, text) for value, text in options])
    return body


def many_to_one_json(environment: Environment, table: Table) -> list[dict[str, Any]]:
    found = []
    for attribute in table.lookups():
        for target in attribute.targets:
            referenced = environment.table(target)
            if referenced is None:
                continue
            name = f"{table.logical_name}_{attribute.logical_name}_{target}"
            found.append(
                {
                    "MetadataId": metadata_id(name),
                    "SchemaName": name,
                    "RelationshipType": "OneToManyRelationship",
                    "IsCustomRelationship": attribute.custom,
                    "IsManaged": not attribute.custom,
                    "ReferencedEntity": target,
                    "ReferencedAttribute": referenced.primary_id,
                    "ReferencingEntity": table.logical_name,
                    "ReferencingAttribute": attribute.logical_name,
                    "ReferencedEntityNavigationPropertyName": f"{attribute.logical_name}_{table.entity_set_name}",
                    "ReferencingEntityNavigationPropertyName": navigation_property(attribute, target),
                    "IsHierarchical": False,
                    "HasChanged": None,
                }
            )
    return found


def one_to_many_json(environment: Environment, table: Table) -> list[dict[str, Any]]:
    found = []
    for other in environment.tables.values():
        found += [
            item for item in many_to_one_json(environment, other) if item["ReferencedEntity"] == table.logical_name
        ]
    return found


def keys_json(table: Table) -> list[dict[str, Any]]:
    return [
        {
            "MetadataId": metadata_id(table.logical_name, "key", name),
            "LogicalName": name,
            "SchemaName": schema_name(name),
            "KeyAttributes": list(columns),
            "EntityLogicalName": table.logical_name,
            "EntityKeyIndexStatus": "Active",
            "DisplayName": label(name, f"{table.logical_name}:{name}"),
            "IsManaged": False,
            "HasChanged": None,
        }
        for name, columns in table.alternate_keys.items()
    ]


# --- $select and $filter on metadata collections --------------------------------------------------------------
_CLAUSE = re.compile(
    r"^\s*([A-Za-z]+(?:/[A-Za-z]+)?)\s+(eq|ne)\s+(?:(?:Microsoft\.Dynamics\.CRM\.[A-Za-z]+)?'((?:[^']|'')*)'|"
    r"(true|false|null|-?\d+))\s*$"
)


def select(items: list[dict[str, Any]], text: str | None, *, type_name: str, allowed: tuple[str, ...]) -> list[dict]:
    """Keep the `$select`ed properties (plus @odata.type and MetadataId, always returned); a property the type
    lacks: 400 as Dataverse answers."""
    if not text:
        return items
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in allowed:
            raise problem(
                400,
                "0x80060888",
                f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.",
            )
    keep = {"@odata.type", "MetadataId", *names}
    return [{key: value for key, value in item.items() if key in keep} for item in items]


def apply_filter(items: list[dict[str, Any]], text: str | None) -> list[dict[str, Any]]:
    """`$filter` made of `Property eq|ne <literal>` clauses joined by one kind of `and`/`or` (what clients send to
    metadata: LogicalName eq 'lead', IsActivity eq true, AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode
    'Picklist'); anything else: 400."""
    if not text:
        return items
    joiner = " or " if " or " in text else " and "
    clauses = []
    for part in text.replace("(", " ").replace(")", " ").split(joiner):
        match = _CLAUSE.match(part)
        if match is None:
            raise problem(400, "0x80060888", f"The query parameter $filter '{text}' is not supported on metadata.")
        name, operator, quoted, literal = match.groups()
        value: Any = (
            quoted.replace("''", "'")
            if quoted is not None
            else {"true": True, "false": False, "null": None}.get(literal, literal)
        )
        if isinstance(value, str) and quoted is None and value.lstrip("-").isdigit():
            value = int(value)
        clauses.append((name, operator, value))

    def value_of(item: dict[str, Any], name: str) -> Any:
        found: Any = item
        for part in name.split("/"):
            found = found.get(part) if isinstance(found, dict) else None
        return found

    def holds(item: dict[str, Any], clause: tuple[str, str, Any]) -> bool:
        name, operator, value = clause
        equal = value_of(item, name) == value
        return equal if operator == "eq" else not equal

    test = any if joiner == " or " else all
    return [item for item in items if test(holds(item, clause) for clause in clauses)]
