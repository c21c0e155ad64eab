"""What a manager (or `manage.py links`) does to a link: start it, pause and resume it, settle a match under review.

Nothing is written to a CRM before `link_start`: a DRAFT link records no changes and plans nothing. Starting reads
both CRMs' field metadata (outside any transaction), refuses a configuration that does not fit them, matches the
two mirrors (links.matching), and then hands every record of both sides to the engine as a change, so the first
sync is planned exactly as any later change is.

Idempotent: starting a running link changes nothing (it is already started; nothing is matched or planned again),
pausing a paused link and resolving a review the same way twice likewise; resuming a running link only asks the
engine to look at it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError
from links.config import link_problems, mirror_problems, side_label
from links.matching import Match, MirrorSide, counterparts
from links.models import LinkChange, LinkObject, MatchReview, RecordPair, Side, SyncLink, other_side
from sync.models import CrmPhone, CrmRecord


class LinkConfigError(Exception):
    """The link cannot start: `problems` says why, each naming the link, object pair and field."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def _enqueue_apply(link_id: int) -> None:
    from links.tasks import links_apply_task

    links_apply_task.delay(link_id)


def apply_enqueue_on_commit(link: SyncLink) -> None:
    """Ask the engine to act on the link once the caller's transaction commits."""
    transaction.on_commit(partial(_enqueue_apply, link.pk))


def _locked(link: SyncLink) -> SyncLink:
    return SyncLink.objects.for_organization(link.organization).select_for_update().get(pk=link.pk)


def link_start(link: SyncLink, *, by: Any = None) -> SyncLink:
    """Start a DRAFT link: check its configuration against both CRMs (LinkConfigError listing every problem), match
    the two mirrors (record pairs for one-to-one matches, the review list for ambiguous ones), then record every live
    record of both sides as a change for the engine, objects in position order, and enqueue it. A running link is
    left as it is (starting twice is harmless); a paused one is resumed with `link_resume`, not started again.
    Reads the CRMs' metadata: call it outside any transaction."""
    from links.metadata import link_specs

    if link.state == SyncLink.State.RUNNING:
        return link
    if link.state == SyncLink.State.PAUSED:
        raise ApplicationError(f"{link.name} is paused, not new: resume it")
    problems = link_problems(link)
    if not LinkObject.objects.for_organization(link.organization).filter(link=link).exists():
        problems.append(f"{link.name}: no object pairs to keep in step")
    if problems:
        raise LinkConfigError(problems)
    specs = link_specs(link)
    problems = mirror_problems(link)
    if problems:
        raise LinkConfigError(problems)
    _statistics_refresh(CrmRecord, CrmPhone)
    began = timezone.now()
    with transaction.atomic():
        locked = _locked(link)
        if locked.state != SyncLink.State.DRAFT:  # started meanwhile by someone else
            return locked
        now = timezone.now()
        link_objects = list(
            LinkObject.objects.for_organization(link.organization)
            .filter(link=locked)
            .select_related("link__organization")
            .order_by("position", "id")
        )
        for link_object in link_objects:
            _first_match(link_object, specs[link_object.pk])
        locked.state = SyncLink.State.RUNNING
        locked.started_at = now
        locked.paused_at = None
        locked.pause_reason = ""
        locked.save(update_fields=["state", "started_at", "paused_at", "pause_reason", "updated_at"])
        for link_object in link_objects:
            for side in (Side.A, Side.B):
                _changes_for_every_record(locked, link_object, side, now)
        apply_enqueue_on_commit(locked)
    _catch_up(locked, link_objects, since=began - START_CATCH_UP)
    link.refresh_from_db()
    return link


# A mirror batch that began before the start and committed during it recorded no change (its receiver saw a draft
# link) and may be missing from the start's own read: once the start committed, rows the mirror wrote from this long
# before it that have no change of their version yet get one.
START_CATCH_UP = timedelta(minutes=10)


def _statistics_refresh(*models: Any) -> None:
    """ANALYZE the models' tables (PostgreSQL). A mirror's cold load has just filled them and autovacuum may not have
    looked yet: with no statistics PostgreSQL filters the whole object's rows by a list of ids instead of probing the
    index with it (per chunk of ids: a 2,000-id read of a 34,000-row mirror took 750 ms instead of 12)."""
    if db_connection.vendor != "postgresql":
        return
    with db_connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {db_connection.ops.quote_name(model._meta.db_table)}")


def _catch_up(link: SyncLink, link_objects: list[LinkObject], *, since: datetime) -> int:
    # The start has just added a change per record: statistics that still see the inbox as it was would plan the
    # catch-up's anti-join badly (a scan per record instead of an index probe).
    _statistics_refresh(LinkChange, RecordPair)
    with transaction.atomic():
        caught = sum(
            _changes_for_every_record(link, link_object, side, timezone.now(), synced_since=since)
            for link_object in link_objects
            for side in (Side.A, Side.B)
        )
        if caught:
            apply_enqueue_on_commit(link)
    return caught


def _first_match(link_object: LinkObject, specs: tuple) -> None:
    """Side A's free records matched against side B: pairs for one-to-one matches, reviews for ambiguous ones; then
    side B's records still free, for their ambiguous matches (their lonely records are created by the engine)."""
    for side in (Side.A, Side.B):
        ids = list(MirrorSide(link_object, side, specs[0]).free_rows().values_list("external_id", flat=True))
        matches = counterparts(link_object=link_object, side=side, external_ids=ids, specs=specs)
        if side == Side.A:
            RecordPair.objects.bulk_create(
                [
                    RecordPair(
                        organization_id=link_object.organization_id,
                        link_id=link_object.link_id,
                        link_object=link_object,
                        id_a=record_id,
                        id_b=match.candidates[0],
                        matched_by=match.matched_by,
                    )
                    for record_id, match in matches.items()
                    if not match.ambiguous
                ],
                batch_size=1000,
            )
            # side B's free rows are those no pair holds: statistics that do not see the pairs just made planned
            # that anti-join as a scan of the pairs per record (19 of a 50,000-a-side start's 47 s)
            _statistics_refresh(RecordPair)
        _reviews_open(link_object, side, {key: match for key, match in matches.items() if match.ambiguous})


def _reviews_open(link_object: LinkObject, side: str, matches: dict[str, Match]) -> None:
    MatchReview.objects.bulk_create(
        [
            MatchReview(
                organization_id=link_object.organization_id,
                link_id=link_object.link_id,
                link_object=link_object,
                side=side,
                external_id=record_id,
                candidates=list(match.candidates),
                matched_by=match.matched_by,
                match_value=match.value[:254],
            )
            for record_id, match in matches.items()
        ],
        batch_size=1000,
        ignore_conflicts=True,  # a record already under review stays as its review says
    )


def _changes_for_every_record(
    link: SyncLink, link_object: LinkObject, side: str, now: datetime, *, synced_since: datetime | None = None
) -> int:
    """A change for every live record of one side (mirrored since `synced_since` when given), in one statement (a
    first sync of 50,000 records would be 100,000 objects through the ORM): the engine then plans each as it would
    a record the mirror just wrote."""
    connection_id = link.connection_a_id if side == Side.A else link.connection_b_id
    name = link_object.object_a if side == Side.A else link_object.object_b
    if db_connection.vendor != "postgresql":
        return _changes_for_every_record_orm(link, link_object, side, now, connection_id, name, synced_since)
    changes, records = LinkChange._meta.db_table, CrmRecord._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {changes} (organization_id, link_id, link_object_id, side, external_id, operation, confirmed,
                                   modified_time, by_us, field_times, seen_at, attempts)
            SELECT organization_id, %s, %s, %s, external_id, %s, true, modified_time, NULL, '{{}}'::jsonb, %s, 0
            FROM {records}
            WHERE organization_id = %s AND connection_id = %s AND object = %s AND deleted_at IS NULL
              AND (%s::timestamptz IS NULL OR (synced_at >= %s::timestamptz AND NOT EXISTS (
                  SELECT 1 FROM {changes} AS seen
                  WHERE seen.link_object_id = %s AND seen.side = %s AND seen.external_id = {records}.external_id
                    AND seen.modified_time >= {records}.modified_time)))
            ORDER BY modified_time, external_id
            """,  # noqa: S608 (table names are the models', every value a parameter)
            [
                *(link.pk, link_object.pk, side, LinkChange.Operation.UPSERT, now),
                *(link.organization_id, connection_id, name, synced_since, synced_since, link_object.pk, side),
            ],
        )
        return cursor.rowcount


def _changes_for_every_record_orm(
    link: SyncLink,
    link_object: LinkObject,
    side: str,
    now: datetime,
    connection_id: int,
    name: str,
    synced_since: datetime | None,
) -> int:
    """`_changes_for_every_record` through the ORM (SQLite, the embedded default: demo-sized mirrors)."""
    rows = CrmRecord.objects.for_organization(link.organization).filter(
        connection_id=connection_id, object=name, deleted_at__isnull=True
    )
    seen: dict[str, datetime] = {}
    if synced_since is not None:
        rows = rows.filter(synced_at__gte=synced_since)
        for external_id, moment in (
            LinkChange.objects.for_organization(link.organization)
            .filter(link_object=link_object, side=side)
            .values_list("external_id", "modified_time")
        ):
            if moment is not None and (external_id not in seen or moment > seen[external_id]):
                seen[external_id] = moment
    changes = [
        LinkChange(
            organization_id=link.organization_id,
            link=link,
            link_object=link_object,
            side=side,
            external_id=external_id,
            modified_time=modified_time,
            seen_at=now,
        )
        for external_id, modified_time in rows.order_by("modified_time", "external_id").values_list(
            "external_id", "modified_time"
        )
        if external_id not in seen or seen[external_id] < modified_time
    ]
    LinkChange.objects.bulk_create(changes, batch_size=500)
    return len(changes)


def link_pause(link: SyncLink, *, reason: str = "", by: Any = None) -> SyncLink:
    """Stop writing: changes are still recorded (nothing is lost) and wait until the link is resumed. Pausing a
    paused link keeps its first pause (and reason)."""
    with transaction.atomic():
        locked = _locked(link)
        if locked.state == SyncLink.State.DRAFT:
            raise ApplicationError(f"{link.name} has not started: there is nothing to pause")
        if locked.state == SyncLink.State.RUNNING:
            locked.state = SyncLink.State.PAUSED
            locked.paused_at = timezone.now()
            locked.pause_reason = (reason or (f"paused by {by}" if by else "paused"))[:300]
            locked.save(update_fields=["state", "paused_at", "pause_reason", "updated_at"])
    link.refresh_from_db()
    return link


def link_resume(link: SyncLink, *, by: Any = None) -> SyncLink:
    """Run a paused link again: what was recorded meanwhile is acted on. Resuming a running link asks the engine to
    look at it again (harmless: nothing is planned twice)."""
    with transaction.atomic():
        locked = _locked(link)
        if locked.state == SyncLink.State.DRAFT:
            raise ApplicationError(f"{link.name} has not started: start it (after a preview)")
        if locked.state == SyncLink.State.PAUSED:
            locked.state = SyncLink.State.RUNNING
            locked.paused_at = None
            locked.pause_reason = ""
            locked.save(update_fields=["state", "paused_at", "pause_reason", "updated_at"])
        apply_enqueue_on_commit(locked)
    link.refresh_from_db()
    return link


REVIEW_CHOICES = {
    "link": MatchReview.State.LINKED,
    "create": MatchReview.State.CREATE,
    "ignore": MatchReview.State.IGNORED,
}


def _change(review_or_pair: Any, link_object: LinkObject, side: str, external_id: str, now) -> LinkChange:
    row = (
        CrmRecord.objects.for_organization(link_object.link.organization)
        .filter(connection=link_object.link.connection(side), object=getattr(link_object, f"object_{side}"))
        .filter(external_id=external_id)
        .only("modified_time")
        .first()
    )
    return LinkChange(
        organization_id=link_object.organization_id,
        link_id=link_object.link_id,
        link_object=link_object,
        side=side,
        external_id=external_id,
        operation=LinkChange.Operation.UPSERT,
        modified_time=row.modified_time if row else None,
        seen_at=now,
    )


def review_resolve(review: MatchReview, *, choice: str, chosen_id: str = "", by: Any = None) -> MatchReview:
    """A manager settles a record under review: "link" it to `chosen_id` (a live record of the other side that no
    pair holds), "create" its counterpart on the other side, or "ignore" it (left out of the link). Resolving a
    review again the same way is harmless; another way is refused."""
    if choice not in REVIEW_CHOICES:
        raise ApplicationError(f"choose link, create or ignore, not {choice!r}")
    state = REVIEW_CHOICES[choice]
    chosen_id = (chosen_id or "").strip()
    with transaction.atomic():
        review = (
            MatchReview.objects.for_organization(review.organization)
            .select_for_update()
            .select_related("link_object__link__organization")
            .get(pk=review.pk)
        )
        if review.state != MatchReview.State.OPEN:
            if review.state == state and (choice != "link" or review.chosen_id == chosen_id):
                return review
            raise ApplicationError(f"this record was already settled ({review.get_state_display()})")
        link_object = review.link_object
        link = link_object.link
        side, other = review.side, other_side(review.side)
        now = timezone.now()
        pairs = RecordPair.objects.for_organization(review.organization).filter(link_object=link_object)
        if choice in ("link", "create") and pairs.filter(**{f"id_{side}": review.external_id}).exists():
            raise ApplicationError(f"{review.external_id} is already linked")
        changes: list[LinkChange] = []
        if choice == "link":
            if not chosen_id:
                raise ApplicationError("name the record to link it to")
            free = MirrorSide(link_object, other, None).free_rows().filter(external_id=chosen_id)
            if not free.exists():
                raise ApplicationError(
                    f"{side_label(link, other)} has no live record {chosen_id!r} that is not linked already"
                )
            RecordPair.objects.create(
                organization_id=review.organization_id,
                link=link,
                link_object=link_object,
                matched_by=RecordPair.MatchedBy.MANUAL,
                **{f"id_{side}": review.external_id, f"id_{other}": chosen_id},
            )
            changes = [
                _change(review, link_object, side, review.external_id, now),
                _change(review, link_object, other, chosen_id, now),
            ]
            # The chosen record's own review (it matched several too) is settled by this choice.
            MatchReview.objects.for_organization(review.organization).filter(
                link_object=link_object, side=other, external_id=chosen_id, state=MatchReview.State.OPEN
            ).update(
                state=MatchReview.State.LINKED,
                chosen_id=review.external_id,
                resolved_by=by,
                resolved_at=now,
            )
        elif choice == "create":
            if not getattr(link_object, f"create_{other}"):
                raise ApplicationError(f"{link_object}: records are not created on {side_label(link, other)}")
            RecordPair.objects.create(
                organization_id=review.organization_id,
                link=link,
                link_object=link_object,
                matched_by=RecordPair.MatchedBy.CREATED,
                **{f"id_{side}": review.external_id, f"id_{other}": ""},
            )
            changes = [_change(review, link_object, side, review.external_id, now)]
        review.state = state
        review.chosen_id = chosen_id if choice == "link" else ""
        review.resolved_by = by
        review.resolved_at = now
        review.save(update_fields=["state", "chosen_id", "resolved_by", "resolved_at"])
        if changes:
            LinkChange.objects.bulk_create(changes)
            if link.state == SyncLink.State.RUNNING:
                apply_enqueue_on_commit(link)
    return review
