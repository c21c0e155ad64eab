"""The describe field shape (DescribeFieldResult) and the builders the per-object field tables are written with:
`fld` (any field, describe defaults filled in), `system`, `ref`, `id_field`, `audit_fields`, `owner_field`,
`address_fields` (a compound address and its parts), `name_fields`."""

from __future__ import annotations

from typing import Any

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
