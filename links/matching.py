"""Finding a record's counterpart on the other side of a link (the first sync, a record new on one side, the preview).

    matches = counterparts(link_object=lo, side="a", external_ids=["1001", "1002"], specs=specs[lo.pk])
    matches["1001"]  # Match(candidates=("0031",), matched_by="email", value="ana@acme.test")

Rules, in the link object's `match_by` order, the first finding at least one candidate deciding: "external_id" (the
same value in both sides' external id fields), "email" (lower-cased and stripped, from the mirror's e-mail column and
every e-mail field) and "phone" (E.164, from the mirror's phone rows). Candidates are the other side's live mirror
rows no record pair of the link object holds yet. A match is only ever made one to one: a record matching several,
or a record several records claim, is ambiguous (a MatchReview for a manager; never merged by itself).

Everything is read in bulk (a few queries per rule and chunk of ids), never a query per record.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Lower, Trim

from crm.records import FieldType, ObjectSpec
from links.models import LinkObject, MatchReview, RecordPair, Side, other_side
from sync.models import CrmPhone, CrmRecord

RULES = (RecordPair.MatchedBy.EXTERNAL_ID, RecordPair.MatchedBy.EMAIL, RecordPair.MatchedBy.PHONE)
# Ids or values per query: long IN lists cost more to plan than to run.
CHUNK = 2000
# In Match.claimed_by: the candidate is under a manager's review (of a match that did not name this record).
UNDER_REVIEW = "(under review)"


@dataclass(frozen=True)
class Match:
    """The other side's records a record matched by one rule (`value`: the id, e-mail or phone they share).
    `claimed_by`: other records of the record's own side that matched the same candidate by that rule (or
    UNDER_REVIEW: the candidate awaits a manager's choice in a review of its own). A match is usable (a record pair)
    only when it is not `ambiguous`: one candidate, claimed by no other record."""

    candidates: tuple[str, ...]
    matched_by: str
    value: str
    claimed_by: tuple[str, ...] = field(default=())

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) != 1 or bool(self.claimed_by)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def present(value: str | None) -> bool:
    """Whether a mirror row's field, read as text, holds a value: SQLite reads a JSON null as the text "null" (where
    PostgreSQL gives NULL), and records without an external id must never match each other by it."""
    return bool(value) and value != "null"


def field_expression(spec: ObjectSpec, name: str) -> Any | None:
    """A mirror row's value of a field as text (standard fields sit in `fields` by key, custom and unmapped ones
    in `custom_fields` by name); None when the object has no such field."""
    try:
        field_spec = spec.field(name)
    except KeyError:
        return None
    return Coalesce(
        KeyTextTransform(field_spec.key, "fields"),
        KeyTextTransform(field_spec.name, "custom_fields"),
        output_field=TextField(),
    )


class MirrorSide:
    """One side of a link object: its mirror rows, and which of them are live and held by no pair."""

    def __init__(self, link_object: LinkObject, side: str, spec: ObjectSpec):
        self.link_object = link_object
        self.side = side
        self.spec = spec
        link = link_object.link
        self.organization = link.organization
        self.connection_id = link.connection_a_id if side == Side.A else link.connection_b_id
        self.object = link_object.object_a if side == Side.A else link_object.object_b
        self.external_id_field = link_object.external_id_a if side == Side.A else link_object.external_id_b

    def rows(self) -> QuerySet[CrmRecord]:
        return CrmRecord.objects.for_organization(self.organization).filter(
            connection_id=self.connection_id, object=self.object
        )

    def free_rows(self, taken: Collection[str] = ()) -> QuerySet[CrmRecord]:
        """Live rows no pair of the link object holds (nor `taken`: ids a dry run has already matched)."""
        # "not empty" (no record has an empty id) lets PostgreSQL probe the partial unique index on (link object,
        # id) per row, whatever its statistics of a pair table the start has just filled say
        paired = (
            RecordPair.objects.for_organization(self.organization)
            .filter(link_object=self.link_object, **{f"id_{self.side}": OuterRef("external_id")})
            .exclude(**{f"id_{self.side}": ""})
        )
        rows = self.rows().filter(deleted_at__isnull=True).filter(~Exists(paired))
        return rows.exclude(external_id__in=list(taken)) if taken else rows

    def expressions(self, rule: str) -> list[Any]:
        if rule == RecordPair.MatchedBy.EXTERNAL_ID:
            expression = field_expression(self.spec, self.external_id_field) if self.external_id_field else None
            return [Trim(expression)] if expression is not None else []
        if rule == RecordPair.MatchedBy.EMAIL:
            expressions = [Lower(Trim(F("email")))]
            for spec in self.spec.fields:
                if spec.type == FieldType.EMAIL:
                    expressions.append(Lower(Trim(field_expression(self.spec, spec.name))))
            return expressions
        return []

    def values_of(self, rule: str, ids: Sequence[str]) -> dict[str, set[str]]:
        """The rule's values of these records (whatever their state), by id."""
        found: dict[str, set[str]] = defaultdict(set)
        if rule == RecordPair.MatchedBy.PHONE:
            for chunk in chunks(ids):
                phones = CrmPhone.objects.for_organization(self.organization).filter(
                    connection_id=self.connection_id, object=self.object, external_id__in=chunk
                )
                for external_id, e164 in phones.values_list("external_id", "e164"):
                    found[external_id].add(e164)
            return found
        expressions = self.expressions(rule)
        if not expressions:
            return found
        names = {f"v{i}": Cast(expression, TextField()) for i, expression in enumerate(expressions)}
        for chunk in chunks(ids):
            rows = self.rows().filter(external_id__in=chunk).annotate(**names)
            for external_id, *values in rows.values_list("external_id", *names):
                found[external_id].update(value for value in values if present(value))
        return found

    def holding(self, rule: str, values: Collection[str], taken: Collection[str] = ()) -> dict[str, set[str]]:
        """The free rows holding any of `values` by the rule: each with every value it holds by the rule."""
        found: dict[str, set[str]] = defaultdict(set)
        values = sorted(value for value in values if present(value))
        if not values:
            return found
        free = self.free_rows(taken)
        if rule == RecordPair.MatchedBy.PHONE:
            phones = CrmPhone.objects.for_organization(self.organization).filter(
                connection_id=self.connection_id, object=self.object
            )
            hits: set[str] = set()
            if len(values) > CHUNK:
                wanted = set(values)
                rows = phones.values_list("external_id", "e164").iterator(chunk_size=CHUNK)
                hits.update(external_id for external_id, e164 in rows if e164 in wanted)
            else:
                hits.update(phones.filter(e164__in=values).values_list("external_id", flat=True))
            live = set()
            for chunk in chunks(sorted(hits)):
                live.update(free.filter(external_id__in=chunk).values_list("external_id", flat=True))
            return self.values_of(rule, sorted(live))
        expressions = self.expressions(rule)
        if not expressions:
            return found
        names = {f"v{i}": Cast(expression, TextField()) for i, expression in enumerate(expressions)}
        if len(values) > CHUNK:
            # Many values (a first sync): one read of every free row beats a scan per chunk of values.
            wanted = set(values)
            rows = free.annotate(**names).values_list("external_id", *names)
            for external_id, *held in rows.iterator(chunk_size=CHUNK):
                held_values = {value for value in held if present(value)}
                if held_values & wanted:
                    found[external_id].update(held_values)
            return found
        condition = Q()
        for name in names:
            condition |= Q(**{f"{name}__in": values})
        for external_id, *held in free.annotate(**names).filter(condition).values_list("external_id", *names):
            found[external_id].update(value for value in held if present(value))
        return found


def _rules(link_object: LinkObject) -> list[str]:
    return [rule for rule in (link_object.match_by or []) if rule in RULES]


def counterparts(
    *,
    link_object: LinkObject,
    side: str,
    external_ids: Sequence[str],
    specs: tuple[ObjectSpec, ObjectSpec],
    taken: Collection[str] = (),
) -> dict[str, Match]:
    """For records of `side`: their candidates among the other side's free rows (live, held by no pair, not in
    `taken`), by the link object's rules in order; ids with none are absent. A candidate that two records of
    `side` claim by the deciding rule (in this call, or free records outside it) is ambiguous for both."""
    this = MirrorSide(link_object, side, specs[0] if side == Side.A else specs[1])
    other_name = other_side(side)
    other = MirrorSide(link_object, other_name, specs[0] if other_name == Side.A else specs[1])
    remaining = list(dict.fromkeys(str(external_id) for external_id in external_ids))
    matches: dict[str, Match] = {}
    for rule in _rules(link_object):
        if not remaining:
            break
        own = this.values_of(rule, remaining)
        wanted = set().union(*own.values()) if own else set()
        held = other.holding(rule, wanted, taken)
        by_value: dict[str, set[str]] = defaultdict(set)
        for candidate, values in held.items():
            for value in values:
                by_value[value].add(candidate)
        # Who else claims each candidate by this rule: the free records of this side sharing one of its values.
        claimants: dict[str, set[str]] = defaultdict(set)
        candidate_values = set().union(*held.values()) if held else set()
        rivals = this.holding(rule, candidate_values)
        for record_id, values in {**rivals, **own}.items():
            for value in values:
                for candidate in by_value.get(value, ()):
                    claimants[candidate].add(record_id)
        decided = []
        for record_id in remaining:
            values = sorted(own.get(record_id, ()))
            found = sorted({candidate for value in values for candidate in by_value.get(value, ())})
            if not found:
                continue
            value = next(value for value in values if by_value.get(value))
            others = sorted({rival for candidate in found for rival in claimants[candidate]} - {record_id})
            matches[record_id] = Match(
                candidates=tuple(found), matched_by=str(rule), value=value, claimed_by=tuple(others)
            )
            decided.append(record_id)
        decided_set = set(decided)
        remaining = [record_id for record_id in remaining if record_id not in decided_set]
    return _under_review(this, other, _settle(matches))


def _under_review(this: MirrorSide, other: MirrorSide, matches: dict[str, Match]) -> dict[str, Match]:
    """A single candidate that is itself under review (it matched several records of this side, or was claimed)
    is not this record's to take: the manager's choice decides, so the match is ambiguous too."""
    single = {match.candidates[0]: record_id for record_id, match in matches.items() if not match.ambiguous}
    if not single:
        return matches
    reviews = MatchReview.objects.for_organization(other.organization).filter(
        link_object=other.link_object, side=other.side, state=MatchReview.State.OPEN
    )
    for chunk in chunks(sorted(single)):
        for candidate, rivals in reviews.filter(external_id__in=chunk).values_list("external_id", "candidates"):
            record_id = single[candidate]
            match = matches[record_id]
            claimed = tuple(sorted(set(map(str, rivals)) - {record_id})) or (UNDER_REVIEW,)
            matches[record_id] = Match(match.candidates, match.matched_by, match.value, claimed)
    return matches


def _settle(matches: dict[str, Match]) -> dict[str, Match]:
    """Within one call: a claimant decided by another rule does not make a match ambiguous, but two records whose
    only candidate is the same record always do (one pair per record and side)."""
    rule_of = {record_id: match.matched_by for record_id, match in matches.items()}
    settled: dict[str, Match] = {}
    for record_id, match in matches.items():
        # A rival of this call counts only when the same rule decided it; one outside the call is kept (unknown).
        rivals = tuple(rival for rival in match.claimed_by if rule_of.get(rival, match.matched_by) == match.matched_by)
        settled[record_id] = Match(match.candidates, match.matched_by, match.value, rivals)
    single: dict[str, list[str]] = defaultdict(list)
    for record_id, match in settled.items():
        if not match.ambiguous:
            single[match.candidates[0]].append(record_id)
    for record_ids in single.values():
        if len(record_ids) > 1:
            for record_id in record_ids:
                match = settled[record_id]
                rivals = tuple(sorted(set(match.claimed_by) | (set(record_ids) - {record_id})))
                settled[record_id] = Match(match.candidates, match.matched_by, match.value, rivals)
    return settled


# --- the preview ------------------------------------------------------------------------------------------------------
def free_ids(side: MirrorSide) -> list[str]:
    return list(side.free_rows().order_by("external_id").values_list("external_id", flat=True))


def rows_by_id(side: MirrorSide, ids: Sequence[str]) -> dict[str, CrmRecord]:
    rows: dict[str, CrmRecord] = {}
    for chunk in chunks(list(ids)):
        rows.update({row.external_id: row for row in side.rows().filter(external_id__in=chunk)})
    return rows
