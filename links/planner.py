"""From the changes the mirrors recorded (LinkChange) to the writes that bring the other side in step (LinkWrite).

    with transaction.atomic():
        changes_plan(link=link, changes=chunk, specs=link_specs(link), now=timezone.now())

A chunk is planned with a handful of queries whatever its size: the pairs and reviews of its records, the mirror
rows of both sides, the pending writes it may merge into, all read by id lists; pairs, writes, conflicts, reviews and
the changes themselves written in bulk. The rules (docs/links.md): a record no pair holds is matched, put up for
review or created; per field, our own writes coming back are known (the hash of what we last wrote, and the CRM's
source tag), a value the other side already holds is never written again, empty never overwrites unless the field
clears, and a field both sides changed since they last agreed goes by the field's conflict rule (logged).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from crm.records import FieldSpec, FieldType, ObjectSpec
from links.bulk import rows_update
from links.conversions import (
    ConversionContext,
    LookupPending,
    OwnerUnmapped,
    PairLookup,
    Unconvertible,
    convert,
    is_empty,
    mirror_value,
    value_hash,
    value_jsonable,
    values_equal,
)
from links.matching import counterparts
from links.models import (
    LinkChange,
    LinkConflict,
    LinkField,
    LinkObject,
    LinkWrite,
    MatchReview,
    RecordPair,
    Side,
    SyncLink,
    other_side,
)
from sync.models import CrmRecord

logger = structlog.get_logger(__name__)

LOOKUP_WAIT = timedelta(seconds=60)
LOOKUP_MAX_ATTEMPTS = 10


# --- first contact (the preview) ------------------------------------------------------------------------------------
@dataclass
class PairDiff:
    """What the first sync writes for one pair: field name -> value per target side, and the conflicts
    (field, winner side, rule)."""

    to_a: dict[str, Any] = field(default_factory=dict)
    to_b: dict[str, Any] = field(default_factory=dict)
    conflicts: list[tuple[LinkField, str, str]] = field(default_factory=list)


def flows(link_field: LinkField, source: str) -> bool:
    """Whether the field's direction lets values go from side `source` to the other."""
    if link_field.direction == LinkField.Direction.BOTH:
        return True
    return link_field.direction == (LinkField.Direction.A_TO_B if source == Side.A else LinkField.Direction.B_TO_A)


def field_specs(link_field: LinkField, specs: tuple[ObjectSpec, ObjectSpec]) -> tuple[FieldSpec, FieldSpec] | None:
    try:
        return specs[0].field(link_field.field_a), specs[1].field(link_field.field_b)
    except KeyError:
        return None  # a field gone from a CRM: links.config reports it; the others go on


def pair_differences(
    *,
    link_object: LinkObject,
    row_a: CrmRecord | None,
    row_b: CrmRecord | None,
    specs: tuple[ObjectSpec, ObjectSpec],
    context: ConversionContext,
    link_fields: list[LinkField] | None = None,
) -> PairDiff:
    """The first-contact comparison of two records (no remembered state; a row None is a record to create)."""
    diff = PairDiff()
    rows = {Side.A: row_a, Side.B: row_b}
    fields = link_fields if link_fields is not None else list(link_object.fields.all())
    for link_field in fields:
        pair_specs = field_specs(link_field, specs)
        if pair_specs is None:
            continue
        spec_of = {Side.A: pair_specs[0], Side.B: pair_specs[1]}
        values = {side: mirror_value(rows[side], spec_of[side]) for side in (Side.A, Side.B)}
        converted: dict[str, Any] = {}  # source side -> its value in the other side's terms
        for source in (Side.A, Side.B):
            target = other_side(source)
            if rows[source] is None or not flows(link_field, source) or is_empty(values[source]):
                continue
            try:
                value = convert(
                    values[source],
                    source=spec_of[source],
                    target=spec_of[target],
                    link_field=link_field,
                    to_side=target,
                    context=context,
                )
            except (Unconvertible, LookupPending):
                continue
            if rows[target] is not None and values_equal(value, values[target], spec_of[target]):
                break  # both hold the same value
            if not is_empty(value):
                converted[source] = value
        else:
            if not converted:
                continue
            if len(converted) == 2:  # a value against a value: the conflict rule picks
                winner, rule = _winner(link_field, row_a.modified_time, row_b.modified_time)
                diff.conflicts.append((link_field, winner, rule))
                source = winner
            else:
                source = next(iter(converted))
            target = other_side(source)
            (diff.to_a if target == Side.A else diff.to_b)[spec_of[target].name] = converted[source]
    return diff


def _winner(link_field: LinkField, at_a: Any, at_b: Any) -> tuple[str, str]:
    """(winning side, LinkConflict.Rule) of a field both sides changed, by the field's rule and the change times."""
    if link_field.conflict == LinkField.Conflict.A_WINS:
        return Side.A, LinkConflict.Rule.A_WINS
    if link_field.conflict == LinkField.Conflict.B_WINS:
        return Side.B, LinkConflict.Rule.B_WINS
    if at_a is None or at_b is None or at_a == at_b:
        if at_a is None and at_b is not None:
            return Side.B, LinkConflict.Rule.LATEST
        if at_b is None and at_a is not None:
            return Side.A, LinkConflict.Rule.LATEST
        return Side.A, LinkConflict.Rule.TIE
    return (Side.A if at_a > at_b else Side.B), LinkConflict.Rule.LATEST


# --- planning ------------------------------------------------------------------------------------------------------
def _agree(state: dict[str, Any], side: str, digest: str, target: str, target_digest: str, now: datetime) -> None:
    """Both sides agree on the field (or will, once the write planned lands): each side's hash of its value then."""
    state["g" + side], state["g" + target] = digest, target_digest
    state["agreed"], state["agreed_at"] = target_digest, now.isoformat()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


@dataclass
class PlanCounts:
    changes: int = 0
    writes: int = 0
    conflicts: int = 0
    reviews: int = 0
    owners_unmapped: int = 0
    unconvertible: int = 0
    waiting: int = 0


class ChunkPlan:
    """One chunk of one LinkObject's changes: everything read in bulk up front, written in bulk at the end."""

    def __init__(self, *, link: SyncLink, link_object: LinkObject, fields: list[LinkField], specs, context, now):
        self.link = link
        self.link_object = link_object
        self.fields = [(lf, fs) for lf in fields if (fs := field_specs(lf, specs)) is not None]
        self.specs = specs
        self.context = context
        self.now = now
        self.counts = PlanCounts()
        self.pairs: dict[tuple[str, str], RecordPair] = {}
        self.new_pairs: list[RecordPair] = []
        self.touched: dict[int, RecordPair] = {}
        self.rows: dict[str, dict[str, CrmRecord]] = {Side.A: {}, Side.B: {}}
        self.pending: dict[tuple[int, str], LinkWrite] = {}  # (pair id, side) -> a PENDING update/create to merge into
        self.creates: set[tuple[int, str]] = set()  # (pair id, side) with a create planned or made
        self.new_writes: list[LinkWrite] = []
        self.decided: set[tuple[int, str]] = set()  # (id of the pair object, LinkField id) planned in this chunk
        self.new_open: dict[tuple[int, str], LinkWrite] = {}  # (id of the pair object, side) -> a new update/create
        self.merged: dict[int, LinkWrite] = {}
        self.superseded: list[LinkWrite] = []
        self.conflicts: list[LinkConflict] = []
        self.reviews: list[MatchReview] = []
        # Ids of each side under an open review (the record reviewed, and its candidates): they wait for the manager.
        self.under_review: dict[str, set[str]] = {Side.A: set(), Side.B: set()}
        self.origin = LinkWrite.Origin.FIRST_SYNC if link.first_sync_done_at is None else None
        self.hashes: dict[str | None, str] = {}  # text (or None) -> its value_hash, for the chunk

    # -- reads --
    def objects(self, side: str) -> str:
        return self.link_object.object_a if side == Side.A else self.link_object.object_b

    def _pairs_load(self, ids: dict[str, set[str]]) -> None:
        query = RecordPair.objects.unscoped().filter(link_object=self.link_object)
        from django.db.models import Q

        # "not empty" lets PostgreSQL use the partial unique indexes on (link object, id) instead of reading every
        # pair of the object (no pair holds a record by an empty id)
        condition = Q(pk__in=[])
        if ids[Side.A]:
            condition |= Q(id_a__in=ids[Side.A]) & ~Q(id_a="")
        if ids[Side.B]:
            condition |= Q(id_b__in=ids[Side.B]) & ~Q(id_b="")
        for pair in query.filter(condition):
            self._pair_remember(pair)

    def _pair_remember(self, pair: RecordPair) -> None:
        if pair.id_a:
            self.pairs[(Side.A, pair.id_a)] = pair
        if pair.id_b:
            self.pairs[(Side.B, pair.id_b)] = pair

    def _rows_load(self, side: str, ids: set[str]) -> None:
        ids = {record_id for record_id in ids if record_id and record_id not in self.rows[side]}
        if not ids:
            return
        rows = CrmRecord.objects.unscoped().filter(
            organization_id=self.link.organization_id,
            connection_id=self.link.connection_a_id if side == Side.A else self.link.connection_b_id,
            object=self.objects(side),
            external_id__in=ids,
        )
        for row in rows:
            self.rows[side][row.external_id] = row

    def _writes_load(self) -> None:
        pair_ids = {pair.pk for pair in self.pairs.values() if pair.pk}
        if not pair_ids:
            return
        writes = LinkWrite.objects.unscoped().filter(pair_id__in=pair_ids)
        for write in writes.filter(operation=LinkWrite.Operation.CREATE).only("pair_id", "side"):
            self.creates.add((write.pair_id, write.side))
        pending = writes.filter(
            state=LinkWrite.State.PENDING, operation__in=[LinkWrite.Operation.UPDATE, LinkWrite.Operation.CREATE]
        ).order_by("id")
        for write in pending:
            self.pending[(write.pair_id, write.side)] = write

    # -- matching --
    def _match(self, side: str, external_ids: list[str], reviews: dict[tuple[str, str], MatchReview]) -> None:
        """Pairs (or reviews) for the records of `side` no pair holds yet."""
        unpaired = [
            record_id
            for record_id in dict.fromkeys(external_ids)
            if (side, record_id) not in self.pairs
            and (side, record_id) not in reviews
            and record_id not in self.under_review[side]
        ]
        if not unpaired:
            return
        self._rows_load(side, set(unpaired))
        unpaired = [
            record_id
            for record_id in unpaired
            if record_id in self.rows[side] and self.rows[side][record_id].deleted_at is None
        ]
        if not unpaired:
            return
        target = other_side(side)
        taken = {pair.record_id(target) for pair in self.new_pairs} - {""}
        matches = counterparts(
            link_object=self.link_object, side=side, external_ids=unpaired, specs=self.specs, taken=taken
        )
        for record_id in unpaired:
            match = matches.get(record_id)
            candidates = [c for c in (match.candidates if match else ()) if (target, c) not in self.pairs]
            if match and (match.ambiguous or not candidates):  # several, or its one taken in this chunk
                self._review(side, record_id, match)
                continue
            ids = {side: record_id, target: candidates[0] if candidates else ""}
            pair = RecordPair(
                organization_id=self.link.organization_id,
                link=self.link,
                link_object=self.link_object,
                id_a=ids[Side.A],
                id_b=ids[Side.B],
                matched_by=match.matched_by if match else RecordPair.MatchedBy.CREATED,
            )
            self.new_pairs.append(pair)
            self._pair_remember(pair)

    def _review(self, side: str, record_id: str, match: Any) -> None:
        self.reviews.append(
            MatchReview(
                organization_id=self.link.organization_id,
                link=self.link,
                link_object=self.link_object,
                side=side,
                external_id=record_id,
                candidates=list(match.candidates),
                matched_by=match.matched_by,
                match_value=str(match.value)[:254],
            )
        )
        self.under_review[side].add(record_id)
        self.under_review[other_side(side)].update(match.candidates)
        self.counts.reviews += 1

    # -- the chunk --
    def plan(self, changes: list[LinkChange]) -> None:
        ids: dict[str, set[str]] = {Side.A: set(), Side.B: set()}
        for change in changes:
            ids[change.side].add(change.external_id)
        self._pairs_load(ids)
        reviews = {
            (review.side, review.external_id): review
            for review in MatchReview.objects.unscoped().filter(
                link_object=self.link_object, external_id__in=ids[Side.A] | ids[Side.B]
            )
        }
        for review in MatchReview.objects.unscoped().filter(link_object=self.link_object, state=MatchReview.State.OPEN):
            self.under_review[review.side].add(review.external_id)
            self.under_review[other_side(review.side)].update(review.candidates)
        upserts = [change for change in changes if change.operation == LinkChange.Operation.UPSERT]
        for side in (Side.A, Side.B):
            self._match(side, [c.external_id for c in upserts if c.side == side], reviews)
        if self.new_pairs:
            RecordPair.objects.bulk_create(self.new_pairs)
        for side in (Side.A, Side.B):
            self._rows_load(side, {pair.record_id(side) for pair in self.pairs.values()})
        self._writes_load()
        self._lookups_prefetch()
        for change in changes:
            self.counts.changes += 1
            change.processed_at = self.now
            review = reviews.get((change.side, change.external_id))
            pair = self.pairs.get((change.side, change.external_id))
            if pair is None:
                if change.external_id in self.under_review[change.side]:
                    # waits for the manager (a resolved review makes a pair; a candidate not picked is matched anew)
                    change.processed_at = None
                    change.due_at = self.now + LOOKUP_WAIT * 5
                continue
            if change.operation == LinkChange.Operation.DELETE:
                self._delete(change, pair)
            else:
                self._upsert(change, pair)
        self._save(changes)

    def _lookups_prefetch(self) -> None:
        lookup = self.context.lookup
        if not isinstance(lookup, PairLookup):
            return
        wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
        for _link_field, (spec_a, spec_b) in self.fields:
            if spec_a.type != FieldType.LOOKUP:
                continue
            for side, spec in ((Side.A, spec_a), (Side.B, spec_b)):
                target = spec.lookup_target or (spec_b if side == Side.A else spec_a).lookup_target
                for row in self.rows[side].values():
                    value = mirror_value(row, spec)
                    if value:
                        wanted[(target, side)].add(str(value))
        for (target, side), record_ids in wanted.items():
            lookup.prefetch(target, side, record_ids)

    def _alive(self, pair: RecordPair, side: str) -> bool:
        deleted = RecordPair.State.DELETED_A if side == Side.A else RecordPair.State.DELETED_B
        return pair.state not in (deleted, RecordPair.State.DELETED)

    def _delete(self, change: LinkChange, pair: RecordPair) -> None:
        side, target = change.side, other_side(change.side)
        if not self._alive(pair, side):
            return
        other_gone = not self._alive(pair, target)
        pair.state = (
            RecordPair.State.DELETED
            if other_gone
            else (RecordPair.State.DELETED_A if side == Side.A else RecordPair.State.DELETED_B)
        )
        self.touched[id(pair)] = pair
        held = self.pending.pop((pair.pk, side), None)  # nothing more is written to a deleted record
        if held is not None and held.operation == LinkWrite.Operation.UPDATE:
            held.state = LinkWrite.State.SUPERSEDED
            self.superseded.append(held)
        target_id = pair.record_id(target)
        policy = self.link_object.deletes
        if other_gone or not target_id or policy == LinkObject.Deletes.IGNORE:
            return
        if policy == LinkObject.Deletes.MIRROR:
            self._write_new(pair, target, LinkWrite.Operation.DELETE, change, values={})
        elif policy == LinkObject.Deletes.ARCHIVE:
            values = self.link_object.archive_a if target == Side.A else self.link_object.archive_b
            self._write_new(pair, target, LinkWrite.Operation.ARCHIVE, change, values=dict(values or {}))

    def _upsert(self, change: LinkChange, pair: RecordPair) -> None:
        side, target = change.side, other_side(change.side)
        row = self.rows[side].get(change.external_id)
        if row is None or row.deleted_at is not None or not self._alive(pair, side):
            return
        target_alive = self._alive(pair, target)
        target_id = pair.record_id(target)
        create_allowed = self.link_object.create_a if target == Side.A else self.link_object.create_b
        creating = not target_id and target_alive
        if creating and not create_allowed:
            target_alive = False  # only this side has it, and the link does not create it there
        row_target = self.rows[target].get(target_id) if target_id else None
        if row_target is not None and row_target.deleted_at is not None:
            row_target = None
        waiting = self._fields_sync(change, pair, row, row_target, target_alive=target_alive, creating=creating)
        if creating and target_alive and (pair.pk, target) not in self.creates:
            self._write_values(pair, target, change, {}, {}, {}, operation=LinkWrite.Operation.CREATE)
        if waiting:
            if change.attempts + 1 < LOOKUP_MAX_ATTEMPTS:
                change.processed_at = None
                change.due_at = self.now + LOOKUP_WAIT
            change.attempts += 1
            self.counts.waiting += 1

    def _fields_sync(
        self,
        change: LinkChange,
        pair: RecordPair,
        row: CrmRecord,
        row_target: CrmRecord | None,
        *,
        target_alive: bool,
        creating: bool,
    ) -> bool:
        """Per linked field: remember what each side holds, and plan the write the rules call for. True when a
        lookup field waits for its record to be linked."""
        side, target = change.side, other_side(change.side)
        states = pair.field_state
        waiting = False
        values: dict[str, Any] = {}
        previous: dict[str, Any] = {}
        hashes: dict[str, str] = {}
        back: dict[str, Any] = {}
        back_previous: dict[str, Any] = {}
        back_hashes: dict[str, str] = {}
        for link_field, (spec_a, spec_b) in self.fields:
            spec_s, spec_t = (spec_a, spec_b) if side == Side.A else (spec_b, spec_a)
            key = str(link_field.pk)
            state = dict(states.get(key) or {})
            before = dict(state)
            value = mirror_value(row, spec_s)
            digest = self._hash(value)
            changed = state.get(side) != digest
            if changed:
                state[side] = digest
                at = change.field_times.get(spec_s.name) if change.field_times else None
                state[side + "_at"] = at or _iso(change.modified_time or row.modified_time)
                written = state.get("w" + side)
                if written is not None and written != digest:
                    if change.by_us:
                        state["w" + side] = digest  # ours, as the CRM normalized it (its source tag says so)
                    else:
                        del state["w" + side]  # the side moved on from what we wrote: no echo of it to expect
            value_t = mirror_value(row_target, spec_t) if row_target is not None else None
            if row_target is not None:
                digest_t = self._hash(value_t)
                if state.get(target) != digest_t:
                    state[target] = digest_t
                    state[target + "_at"] = _iso(row_target.modified_time)
                    if state.get("w" + target) not in (None, digest_t):
                        del state["w" + target]
            states[key] = state
            self.touched[id(pair)] = pair
            if not target_alive or not flows(link_field, side):
                continue
            decided = (id(pair), key)
            if not changed and (decided in self.decided or (("g" + side) in state and not creating)):
                continue  # nothing new on this side for this field (or settled by this chunk already)
            self.decided.add(decided)
            if state.get("w" + side) == digest:
                continue  # our own write coming back
            try:
                converted = convert(
                    value, source=spec_s, target=spec_t, link_field=link_field, to_side=target, context=self.context
                )
            except LookupPending:
                states[key] = before
                waiting = True
                continue
            except OwnerUnmapped:
                self.counts.owners_unmapped += 1
                continue
            except Unconvertible as exc:
                logger.info("links.value_unconvertible", link_field_id=link_field.pk, pair_id=pair.pk, reason=str(exc))
                self.counts.unconvertible += 1
                continue
            if row_target is not None and values_equal(converted, value_t, spec_t):
                _agree(state, side, digest, target, self._hash(value_t), self.now)
                continue
            if state.get("w" + target) == self._hash(converted):
                continue  # written already; the other side's mirror has not read it back yet
            if is_empty(converted) and (not link_field.clears or row_target is None):
                continue  # empty never overwrites
            winner = side
            if (
                row_target is not None
                and link_field.direction == LinkField.Direction.BOTH
                and (not is_empty(value_t) or (link_field.clears and ("g" + target) in state))  # a clear is a change
                and self._target_changed(state, target)
            ):
                winner, rule = _winner(
                    link_field,
                    _moment(state.get("a_at")),
                    _moment(state.get("b_at")),
                )
                self.conflicts.append(
                    LinkConflict(
                        organization_id=self.link.organization_id,
                        link=self.link,
                        link_object=self.link_object,
                        pair=pair,
                        link_field=link_field,
                        value_a=value_jsonable(value if side == Side.A else value_t),
                        value_b=value_jsonable(value_t if side == Side.A else value),
                        changed_a_at=_moment(state.get("a_at")),
                        changed_b_at=_moment(state.get("b_at")),
                        winner=winner,
                        rule=rule,
                    )
                )
                self.counts.conflicts += 1
            if winner == side:
                values[spec_t.name] = value_jsonable(converted)
                hashes[key] = self._hash(converted)
                _agree(state, side, digest, target, hashes[key], self.now)  # what both will hold once written
                if row_target is not None:
                    previous[spec_t.name] = value_jsonable(value_t)
                continue
            # the other side wins: its value goes back to this side, if the field flows that way
            try:
                converted_back = convert(
                    value_t, source=spec_t, target=spec_s, link_field=link_field, to_side=side, context=self.context
                )
            except (Unconvertible, LookupPending):
                continue
            if values_equal(converted_back, value, spec_s) or state.get("w" + side) == self._hash(converted_back):
                continue
            back[spec_s.name] = value_jsonable(converted_back)
            back_hashes[key] = self._hash(converted_back)
            _agree(state, side, back_hashes[key], target, self._hash(value_t), self.now)
            back_previous[spec_s.name] = value_jsonable(value)
        if values:
            operation = LinkWrite.Operation.CREATE if creating else LinkWrite.Operation.UPDATE
            self._write_values(pair, target, change, values, previous, hashes, operation=operation)
        if back:
            update = LinkWrite.Operation.UPDATE
            self._write_values(pair, side, change, back, back_previous, back_hashes, operation=update)
        return waiting

    def _hash(self, value: Any) -> str:
        """value_hash, remembered for the chunk for text and empty values (most fields: the same value is hashed
        several times per field, and a first sync hashes a million of them)."""
        if value is not None and type(value) is not str:
            return value_hash(value)
        known = self.hashes.get(value)
        if known is None:
            known = self.hashes[value] = value_hash(value)
        return known

    @staticmethod
    def _target_changed(state: dict[str, Any], target: str) -> bool:
        """Whether the other side changed the field since both sides last agreed: it no longer holds the value it
        held then (its hash, "ga"/"gb": hashes, not times, so the CRMs' clocks and ours need not agree), other than
        by our own write of it. No agreement yet: it holds a value of its own, a conflict."""
        agreed = state.get("g" + target)
        if agreed is None:
            return True
        # our write of the agreed value, not yet read back (a mirror row older than it is no change of that side)
        return state.get(target) != agreed and state.get("w" + target) != agreed

    # -- writes --
    def _write_values(
        self,
        pair: RecordPair,
        side: str,
        change: LinkChange,
        values: dict[str, Any],
        previous: dict[str, Any],
        hashes: dict[str, str],
        *,
        operation: str,
    ) -> None:
        """Merge into the pair's pending write to `side` (later values win), else a new one."""
        held = self.pending.get((pair.pk, side)) if pair.pk else None
        if held is None:
            held = self.new_open.get((id(pair), side))
        if held is not None and held.operation in (LinkWrite.Operation.UPDATE, LinkWrite.Operation.CREATE):
            held.values = {**held.values, **values}
            held.hashes = {**held.hashes, **hashes}
            held.previous = {**previous, **held.previous}
            if held.pk:
                self.merged[held.pk] = held
            return
        if operation == LinkWrite.Operation.CREATE:
            if (pair.pk, side) in self.creates:
                return
            self.creates.add((pair.pk, side))
        self._write_new(pair, side, operation, change, values=values, previous=previous, hashes=hashes)

    def _write_new(
        self,
        pair: RecordPair,
        side: str,
        operation: str,
        change: LinkChange,
        *,
        values: dict[str, Any],
        previous: dict[str, Any] | None = None,
        hashes: dict[str, str] | None = None,
    ) -> None:
        write = LinkWrite(
            organization_id=self.link.organization_id,
            link=self.link,
            link_object=self.link_object,
            pair=pair,
            side=side,
            operation=operation,
            origin=self.origin or change.side,
            values=values,
            previous=previous or {},
            hashes=hashes or {},
            source_modified_at=change.modified_time,
            seen_at=change.seen_at,
        )
        self.new_writes.append(write)
        if operation in (LinkWrite.Operation.UPDATE, LinkWrite.Operation.CREATE):
            self.new_open[(id(pair), side)] = write

    def _save(self, changes: list[LinkChange]) -> None:
        if self.reviews:
            MatchReview.objects.bulk_create(self.reviews, ignore_conflicts=True)
        if self.touched:
            for pair in self.touched.values():
                pair.updated_at = self.now
            rows_update(RecordPair, list(self.touched.values()), ["field_state", "state", "updated_at"])
        if self.new_writes:
            LinkWrite.objects.bulk_create(self.new_writes)
            self.counts.writes += len(self.new_writes)
        if self.merged:
            rows_update(LinkWrite, list(self.merged.values()), ["values", "previous", "hashes"])
        if self.superseded:
            rows_update(LinkWrite, self.superseded, ["state"])
        if self.conflicts:
            LinkConflict.objects.bulk_create(self.conflicts)
        rows_update(LinkChange, changes, ["processed_at", "due_at", "attempts"])


def changes_plan(
    *, link: SyncLink, changes: list[LinkChange], specs, now: datetime, context=None, counts: PlanCounts | None = None
) -> int:
    """Plan a chunk of the link's changes (call inside a transaction); how many changes it processed (a change put
    back for later counts too). `specs`: links.metadata.link_specs(link). Nothing for a link that is not RUNNING.
    `counts`: added to (writes, conflicts, reviews, owners not mapped, values that cannot go, lookups waiting)."""
    if link.state != SyncLink.State.RUNNING or not changes:
        return 0
    if context is None:
        from links.conversions import conversion_context

        context = conversion_context(link)
    by_object: dict[int, list[LinkChange]] = defaultdict(list)
    for change in sorted(changes, key=lambda change: change.pk or 0):
        by_object[change.link_object_id].append(change)
    objects = {lo.pk: lo for lo in LinkObject.objects.unscoped().filter(pk__in=list(by_object))}
    fields: dict[int, list[LinkField]] = defaultdict(list)
    for link_field in LinkField.objects.unscoped().filter(link_object_id__in=list(by_object)).order_by("id"):
        fields[link_field.link_object_id].append(link_field)
    done = 0
    for link_object in sorted(objects.values(), key=lambda lo: (lo.position, lo.pk)):
        if link_object.pk not in specs:
            continue
        plan = ChunkPlan(
            link=link,
            link_object=link_object,
            fields=fields[link_object.pk],
            specs=specs[link_object.pk],
            context=context,
            now=now,
        )
        plan.plan(by_object[link_object.pk])
        done += plan.counts.changes
        if counts is not None:
            for name, value in vars(plan.counts).items():
                setattr(counts, name, getattr(counts, name) + value)
    return done
