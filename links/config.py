"""Whether a link's configuration fits both CRMs: checked against their field metadata before the link may start
(and when the tenants file is applied), every problem named by its link, object pair and field:

    link_problems(link)
    # ["acme-sync: lead ⇄ contact: side B (<its CRM's label>) has no field 'lastnme'", ...]

Reading the metadata asks the CRMs (`links.metadata`, cached): call it outside any transaction, or pass the specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crm.connections import crm_connection_of
from crm.errors import CrmRejected
from crm.provider import CrmProvider
from crm.records import Capability, FieldSpec, ObjectSpec
from crm.registry import UnknownCrm, provider_class
from links.conversions import compatible
from links.metadata import object_spec_cached
from links.models import LinkField, LinkObject, RecordPair, Side, SyncLink
from sync.models import SyncRun

# Where an object's spec could not be had: the reason, in place of the spec ("has no object 'leed'").
SpecOrReason = ObjectSpec | str
MATCH_RULES = {str(rule) for rule in (RecordPair.MatchedBy.EXTERNAL_ID, RecordPair.MatchedBy.EMAIL, "phone")}


@dataclass(frozen=True)
class LinkProblem:
    """One problem, with what it is about (None: the link itself, or the object pair)."""

    message: str
    link_object: LinkObject | None = None
    link_field: LinkField | None = None

    def text(self, link: SyncLink) -> str:
        where = [link.name]
        if self.link_object is not None:
            where.append(str(self.link_object))
        return ": ".join([*where, self.message])


def provider_label(connection) -> str:
    try:
        return provider_class(connection.kind).label or connection.kind
    except UnknownCrm:
        return connection.kind


def side_label(link: SyncLink, side: str) -> str:
    """The side and its CRM, as people read it: "side A (<the provider's label>)"."""
    return f"side {side.upper()} ({provider_label(link.connection(side))})"


def object_specs_fetch(*, connection, objects: list[str], refresh: bool = False) -> dict[str, SpecOrReason]:
    """Each object's spec on a connection, or why there is none (the CRM has no such object). Asks the CRM on a
    cache miss: never inside a transaction. Errors other than "no such object" (the CRM down, a revoked grant)
    propagate."""
    found: dict[str, SpecOrReason] = {}
    for name in dict.fromkeys(objects):
        try:
            found[name] = object_spec_cached(connection=connection, object=name, refresh=refresh)
        except (ValueError, CrmRejected) as exc:
            found[name] = f"has no object {name!r} ({exc})"
    return found


def link_problems(link: SyncLink, *, specs: Mapping[int, tuple[ObjectSpec, ObjectSpec]] | None = None) -> list[str]:
    """Every problem of the link's configuration, [] when it is valid. `specs`: LinkObject id -> (A's spec, B's),
    as links.metadata.link_specs gives them; read here when not given (outside transactions)."""
    return [problem.text(link) for problem in link_problem_list(link, specs=specs)]


def link_problem_list(
    link: SyncLink,
    *,
    specs: Mapping[int, tuple[ObjectSpec, ObjectSpec]] | None = None,
    object_specs: Mapping[tuple[str, str], SpecOrReason] | None = None,
) -> list[LinkProblem]:
    """The problems, each with the object pair and field it is about. Specs by LinkObject id (`specs`) or by
    (side, object name) (`object_specs`, a spec or the reason there is none); read from the CRMs when neither."""
    problems = connection_problems(link)
    if problems:
        return problems
    link_objects = list(LinkObject.objects.for_organization(link.organization).filter(link=link).order_by("position"))
    fields = {lo.pk: [] for lo in link_objects}
    for link_field in LinkField.objects.for_organization(link.organization).filter(link_object__in=link_objects):
        fields[link_field.link_object_id].append(link_field)
    if specs is None and object_specs is None:
        object_specs = {}
        for side in (Side.A, Side.B):
            names = [getattr(lo, f"object_{side}") for lo in link_objects]
            for name, spec in object_specs_fetch(connection=link.connection(side), objects=names).items():
                object_specs[(side, name)] = spec
    for link_object in link_objects:
        if specs is not None and link_object.pk in specs:
            pair: tuple[SpecOrReason, SpecOrReason] = specs[link_object.pk]
        else:
            pair = (
                (object_specs or {}).get((Side.A, link_object.object_a), "has no metadata read"),
                (object_specs or {}).get((Side.B, link_object.object_b), "has no metadata read"),
            )
        problems.extend(_object_problems(link, link_object, pair, fields[link_object.pk]))
    return problems


def connection_problems(link: SyncLink) -> list[LinkProblem]:
    problems = []
    for side in (Side.A, Side.B):
        connection_id = link.connection_a_id if side == Side.A else link.connection_b_id
        if (
            connection_id is None
            or crm_connection_of(organization=link.organization, connection_id=connection_id) is None
        ):
            problems.append(LinkProblem(f"side {side.upper()} is not one of the organization's CRM connections"))
    if not problems and link.connection_a_id == link.connection_b_id:
        problems.append(LinkProblem("sides A and B are the same connection: a link keeps two CRMs in step"))
    return problems


def _supports_deletes(connection) -> bool:
    try:
        cls = provider_class(connection.kind)
    except UnknownCrm:
        return False
    return cls.delete_record is not CrmProvider.delete_record


def _supports_upserts(connection) -> bool:
    try:
        return Capability.UPSERT_BY_EXTERNAL_ID in provider_class(connection.kind).capabilities
    except UnknownCrm:
        return False


def _choice_problem(value: str, spec: FieldSpec, where: str) -> str:
    """ "" when `value` is one of the picklist's values (or the field has no fixed list), else why not."""
    if not spec.choices or value in spec.choices:
        return ""
    if value in spec.choice_labels:
        real = spec.choices[spec.choice_labels.index(value)]
        return f"{where}: {value!r} is the label of value {real!r} of field {spec.name!r}; use the value"
    shown = ", ".join(repr(choice) for choice in spec.choices[:8]) + (", ..." if len(spec.choices) > 8 else "")
    return f"{where}: field {spec.name!r} has no value {value!r} (its values: {shown})"


def _object_problems(
    link: SyncLink,
    link_object: LinkObject,
    specs: tuple[SpecOrReason, SpecOrReason],
    link_fields: list[LinkField],
) -> list[LinkProblem]:
    problems: list[LinkProblem] = []

    def problem(message: str, link_field: LinkField | None = None) -> None:
        problems.append(LinkProblem(message, link_object, link_field))

    by_side: dict[str, ObjectSpec] = {}
    for side, spec in zip((Side.A, Side.B), specs, strict=True):
        if isinstance(spec, str):
            problem(f"{side_label(link, side)} {spec}")
        else:
            by_side[side] = spec
    for rule in link_object.match_by or []:
        if rule not in MATCH_RULES:
            problem(f"match_by: unknown rule {rule!r} (use external_id, email or phone)")
    if len(by_side) < 2:
        return problems

    def field_of(side: str, name: str) -> FieldSpec | None:
        try:
            return by_side[side].field(name)
        except KeyError:
            return None

    writes_to = {Side.A: link_object.create_a, Side.B: link_object.create_b}
    for side in (Side.A, Side.B):
        label = side_label(link, side)
        connection = link.connection(side)
        name = getattr(link_object, f"external_id_{side}")
        creates = writes_to[side]
        if name:
            spec = field_of(side, name)
            if spec is None:
                problem(f"{label} has no field {name!r} (external_id)")
            else:
                if not spec.unique:
                    problem(f"{label}: external id field {name!r} is not unique (make it a unique field in the CRM)")
                if creates and spec.read_only:
                    problem(f"{label}: external id field {name!r} is read-only; creates set it")
        elif creates:
            problem(
                f"{label}: records are created on this side (create_{side}), which needs its external id field "
                "(external_id): a unique field holding our id, so a retried create never makes a second record"
            )
        elif RecordPair.MatchedBy.EXTERNAL_ID in (link_object.match_by or []):
            problem(f"{label}: match_by external_id needs this side's external id field (external_id)")
        if creates and not _supports_upserts(connection):
            problem(f"{label} cannot create records by external id (upsert), so create_{side} must be off")
        if link_object.deletes == LinkObject.Deletes.MIRROR and not _supports_deletes(connection):
            problem(f"{label} cannot delete records through its API: deletes cannot be 'mirror'")
        if link_object.deletes == LinkObject.Deletes.ARCHIVE:
            for field_name, value in (getattr(link_object, f"archive_{side}") or {}).items():
                spec = field_of(side, field_name)
                if spec is None:
                    problem(f"{label} has no field {field_name!r} (archive)")
                elif spec.read_only:
                    problem(f"{label}: field {field_name!r} is read-only; the archive values cannot set it")
                elif isinstance(value, str):
                    message = _choice_problem(value, spec, f"{label}: archive")
                    if message:
                        problem(message)
    problems.extend(
        LinkProblem(message, link_object, link_field)
        for link_field in link_fields
        for message in _field_problems(link, link_field, field_of)
    )
    return problems


def _field_problems(link: SyncLink, link_field: LinkField, field_of) -> list[str]:
    messages: list[str] = []
    specs = {}
    for side in (Side.A, Side.B):
        name = getattr(link_field, f"field_{side}")
        spec = field_of(side, name)
        if spec is None:
            messages.append(f"{side_label(link, side)} has no field {name!r}")
        specs[side] = spec
    if messages:
        return messages
    flows = []
    if link_field.direction in (LinkField.Direction.BOTH, LinkField.Direction.A_TO_B):
        flows.append((Side.A, Side.B))
    if link_field.direction in (LinkField.Direction.BOTH, LinkField.Direction.B_TO_A):
        flows.append((Side.B, Side.A))
    pair = f"{link_field.field_a} ⇄ {link_field.field_b}"
    for source, target in flows:
        target_spec = specs[target]
        arrow = f"{source.upper()} → {target.upper()}"
        if target_spec.name == getattr(link_field.link_object, f"external_id_{target}"):
            messages.append(
                f"{side_label(link, target)}: field {target_spec.name!r} is the external id field, which holds our "
                f"id: no mapping may write it ({pair}, direction {arrow})"
            )
        elif target_spec.read_only:
            messages.append(
                f"{side_label(link, target)}: field {target_spec.name!r} is read-only; it cannot be written "
                f"({pair}, direction {arrow})"
            )
        elif why := compatible(specs[source], target_spec):
            messages.append(f"{pair} ({arrow}): {why}")
    for source, target in ((Side.A, Side.B), (Side.B, Side.A)):
        values = getattr(link_field, f"values_{source}_to_{target}") or {}
        for source_value, target_value in values.items():
            where = f"{pair}: values {source}_to_{target}"
            for value, spec in ((str(source_value), specs[source]), (str(target_value), specs[target])):
                message = _choice_problem(value, spec, where)
                if message:
                    messages.append(message)
    return messages


def mirror_problems(link: SyncLink) -> list[str]:
    """Objects of a side whose mirror has never finished a load: matching against half a mirror would create
    duplicates of the records it has not read yet."""
    problems = []
    runs = SyncRun.objects.for_organization(link.organization).filter(status=SyncRun.Status.OK)
    for link_object in LinkObject.objects.for_organization(link.organization).filter(link=link):
        for side in (Side.A, Side.B):
            name = getattr(link_object, f"object_{side}")
            if not runs.filter(connection=link.connection(side), object=name).exists():
                problems.append(
                    f"{link.name}: {link_object}: {side_label(link, side)} has not mirrored {name!r} yet (no "
                    f"finished sync run of {link.connection(side).name}): run `manage.py sync backfill --org "
                    f"{link.organization.slug} --object {name}` first"
                )
    return problems
