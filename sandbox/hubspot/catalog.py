"""HubSpot's object types and association types, as the emulator serves them.

Object types are named in paths by plural name ("contacts"), singular ("contact") or type id ("0-1"); `resolve`
accepts all three. Each type knows its created/modified-time properties (contacts: `createdate` and
`lastmodifieddate`; other objects `hs_lastmodifieddate`; activities `hs_createdate`), the properties a list or read
returns when none are asked for, and the scope family its calls need.

Scopes: engagement objects (tasks, notes, communications) are covered by the contacts scopes, as HubSpot's
activity APIs list them; their own granular scope names are accepted too (UNCONFIRMED which one HubSpot checks).

Association type ids are HubSpot-defined (category HUBSPOT_DEFINED): each direction has its own id and an
inverse; contact -> company has the unlabeled 279 and the "Primary" 1. The ids for tasks (204 task -> contact, 216
task -> deal) are the ones public clients use (docs/vendors/hubspot.md); the others follow the same published table
as far as it was stored.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectType:
    name: str  # the plural path name, "contacts"
    type_id: str  # "0-1"
    singular: str  # "contact"
    created_property: str
    modified_property: str
    default_properties: tuple[str, ...]
    scope: str  # crm.objects.<scope>.read / .write
    own_scope: str = ""  # an engagement's own granular scope family, accepted as well

    @property
    def label(self) -> str:
        """The upper-case name HubSpot's messages use ("CONTACT")."""
        return self.singular.upper()

    def read_scopes(self) -> tuple[str, ...]:
        found = [f"crm.objects.{self.scope}.read", f"crm.objects.{self.scope}.write"]
        if self.own_scope:
            found += [f"crm.objects.{self.own_scope}.read", f"crm.objects.{self.own_scope}.write"]
        return tuple(found)

    def write_scopes(self) -> tuple[str, ...]:
        found = [f"crm.objects.{self.scope}.write"]
        if self.own_scope:
            found.append(f"crm.objects.{self.own_scope}.write")
        return tuple(found)

    def schema_read_scopes(self) -> tuple[str, ...]:
        family = self.own_scope or self.scope
        return (f"crm.schemas.{family}.read", f"crm.schemas.{family}.write", *self.read_scopes())

    def schema_write_scopes(self) -> tuple[str, ...]:
        return (f"crm.schemas.{self.own_scope or self.scope}.write",)


_ACTIVITY_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")

OBJECT_TYPES: dict[str, ObjectType] = {
    "contacts": ObjectType(
        "contacts",
        "0-1",
        "contact",
        "createdate",
        "lastmodifieddate",
        ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        "contacts",
    ),
    "companies": ObjectType(
        "companies",
        "0-2",
        "company",
        "createdate",
        "hs_lastmodifieddate",
        ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        "companies",
    ),
    "deals": ObjectType(
        "deals",
        "0-3",
        "deal",
        "createdate",
        "hs_lastmodifieddate",
        (
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ),
        "deals",
    ),
    "communications": ObjectType(
        "communications",
        "0-18",
        "communication",
        "hs_createdate",
        "hs_lastmodifieddate",
        _ACTIVITY_DEFAULTS,
        "contacts",
        "communications",
    ),
    "tasks": ObjectType(
        "tasks", "0-27", "task", "hs_createdate", "hs_lastmodifieddate", _ACTIVITY_DEFAULTS, "contacts", "tasks"
    ),
    "notes": ObjectType(
        "notes", "0-46", "note", "hs_createdate", "hs_lastmodifieddate", _ACTIVITY_DEFAULTS, "contacts", "notes"
    ),
}

# What a person changes when the control API (or a fault) edits a record without naming values: a text property.
EDITED = {
    "contacts": "jobtitle",
    "companies": "industry",
    "deals": "dealname",
    "tasks": "hs_task_subject",
    "notes": "hs_note_body",
    "communications": "hs_communication_body",
}


_BY_ALIAS: dict[str, ObjectType] = {}
for _type in OBJECT_TYPES.values():
    for _alias in (_type.name, _type.singular, _type.type_id):
        _BY_ALIAS[_alias] = _type


def resolve(name: str | None) -> ObjectType | None:
    """The object type a path or body names ("contacts", "contact", "0-1", any case); None when unknown."""
    return _BY_ALIAS.get((name or "").strip().lower())


# --- association types --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssociationType:
    from_type: str
    to_type: str
    type_id: int
    inverse_id: int
    label: str | None = None  # None: the unlabeled default association
    category: str = "HUBSPOT_DEFINED"

    def as_json(self) -> dict[str, object]:
        return {"category": self.category, "typeId": self.type_id, "label": self.label}


# (from, to, unlabeled id, its inverse, primary id or None, the primary's inverse)
_PAIRS: tuple[tuple[str, str, int, int, int | None, int | None], ...] = (
    ("contacts", "companies", 279, 280, 1, 2),
    ("deals", "contacts", 3, 4, None, None),
    ("deals", "companies", 341, 342, 5, 6),
    ("tasks", "contacts", 204, 203, None, None),
    ("tasks", "companies", 192, 191, None, None),
    ("tasks", "deals", 216, 215, None, None),
    ("notes", "contacts", 202, 201, None, None),
    ("notes", "companies", 190, 189, None, None),
    ("notes", "deals", 214, 213, None, None),
    ("communications", "contacts", 81, 82, None, None),
    ("communications", "companies", 87, 88, None, None),
    ("communications", "deals", 85, 86, None, None),
)


def _table() -> dict[tuple[str, str], list[AssociationType]]:
    table: dict[tuple[str, str], list[AssociationType]] = {}
    for left, right, plain, plain_back, primary, primary_back in _PAIRS:
        forward = [AssociationType(left, right, plain, plain_back)]
        backward = [AssociationType(right, left, plain_back, plain)]
        if primary is not None and primary_back is not None:
            forward.append(AssociationType(left, right, primary, primary_back, "Primary"))
            backward.append(AssociationType(right, left, primary_back, primary, "Primary"))
        table[(left, right)] = forward
        table[(right, left)] = backward
    return table


ASSOCIATION_TYPES = _table()


def association_types(from_type: str, to_type: str) -> list[AssociationType]:
    """The defined association types from one object type to another ([] when the pair has none)."""
    return list(ASSOCIATION_TYPES.get((from_type, to_type), ()))


def default_association(from_type: str, to_type: str) -> AssociationType | None:
    """The unlabeled association (what `associations/default` and an association with no type make)."""
    found = association_types(from_type, to_type)
    return found[0] if found else None


def association_type(from_type: str, to_type: str, type_id: int) -> AssociationType | None:
    for kind in association_types(from_type, to_type):
        if kind.type_id == int(type_id):
            return kind
    return None


def association_type_name(from_type: str, to_type: str, kind: AssociationType) -> str:
    """The v3 `type` text of an association in a record's `associations` ("contact_to_company", with
    "_unlabeled" for the unlabeled one when a labeled one exists as well)."""
    left, right = OBJECT_TYPES[from_type].singular, OBJECT_TYPES[to_type].singular
    base = f"{left}_to_{right}"
    if kind.label is None and len(association_types(from_type, to_type)) > 1:
        return f"{base}_unlabeled"
    return base
