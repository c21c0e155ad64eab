"""Two-way sync's answers to the CRM layer's hooks (crm/hooks.py).

- When the mirror writes a batch: record the changes of linked objects (LinkChange), inside the batch's own
  transaction, so a change is never lost between the mirror and the link, nor recorded for a batch that rolled back;
  the link's apply task is queued once the batch commits. An organization with no link pays one indexed query per
  batch.
- When lead automation asks whether a lead is a copy Leadline made: a record a link created on one side (its external
  id field holds a pair's `leadline_id`, or a pair created it there) copies the pair's record on the other side."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import structlog

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.hooks import RecordOrigin, on_records_changed, record_origin_finder

logger = structlog.get_logger(__name__)


@on_records_changed
def link_changes_record(
    *,
    organization_id: int,
    connection_id: int | None,
    object: str,
    records: Sequence[Any] = (),
    deleted_ids: Sequence[str] = (),
    deletion_confirmed: bool = True,
) -> None:
    from links.models import LinkChange, LinkObject, Side, SyncLink

    if connection_id is None:
        return
    linked = list(
        LinkObject.objects.unscoped()
        .filter(
            Q(link__connection_a_id=connection_id, object_a=object)
            | Q(link__connection_b_id=connection_id, object_b=object),
            organization_id=organization_id,
            link__state__in=[SyncLink.State.RUNNING, SyncLink.State.PAUSED],
        )
        .select_related("link__connection_a", "link__connection_b")
    )
    if not linked:
        return
    now = timezone.now()
    by_us = _by_us(linked[0].link, connection_id, records)
    rows = []
    for link_object in linked:
        side = Side.A if link_object.link.connection_a_id == connection_id else Side.B
        common = {"organization_id": organization_id, "link": link_object.link, "link_object": link_object}
        for record in records:
            rows.append(
                LinkChange(
                    **common,
                    side=side,
                    external_id=record.id,
                    modified_time=record.modified_time,
                    by_us=by_us.get(record.id),
                    field_times={name: moment.isoformat() for name, moment in (record.field_times or {}).items()},
                    seen_at=now,
                )
            )
        for external_id in deleted_ids:
            rows.append(
                LinkChange(
                    **common,
                    side=side,
                    external_id=external_id,
                    operation=LinkChange.Operation.DELETE,
                    confirmed=deletion_confirmed,
                    seen_at=now,
                )
            )
    LinkChange.objects.bulk_create(rows)
    running = {lo.link_id for lo in linked if lo.link.state == SyncLink.State.RUNNING}
    if running:
        transaction.on_commit(lambda: _enqueue(running))


def _by_us(link: Any, connection_id: int, records: Sequence[Any]) -> dict[str, bool | None]:
    """The CRM's source tag of each record (did our app make its last change?), from the records as read."""
    if not records:
        return {}
    from crm.registry import provider_for

    connection = link.connection_a if link.connection_a_id == connection_id else link.connection_b
    try:
        provider = provider_for(connection)
        return {record.id: provider.changed_by_us(record=record) for record in records}
    except Exception:
        logger.exception("links.source_tag_failed", connection_id=connection.pk)
        return {}


def _enqueue(link_ids: set[int]) -> None:
    from links.tasks import links_apply_enqueue

    for link_id in link_ids:
        try:
            links_apply_enqueue(link_id)
        except Exception:
            logger.exception("links.apply_enqueue_failed", link_id=link_id)


@record_origin_finder
def link_copy_origin(*, organization: Any, connection: Any, object: str, record: Any) -> RecordOrigin | None:
    """The record a link copied into this one, when a link created it on this connection (a create write of a pair
    holding it, or our id in the link's external id field: the copy is known even before the create's answer was
    recorded)."""
    from links.models import LinkObject, LinkWrite, RecordPair, Side, other_side

    linked = (
        LinkObject.objects.for_organization(organization)
        .filter(Q(link__connection_a=connection) | Q(link__connection_b=connection))
        .select_related("link__connection_a", "link__connection_b")
    )
    for link_object in linked:
        side = Side.A if link_object.link.connection_a_id == connection.pk else Side.B
        found = Q(**{f"id_{side}": record.id})
        ours = _uuid_or_none((record.raw or {}).get(getattr(link_object, f"external_id_{side}")))
        if ours is not None:
            found |= Q(leadline_id=ours)
        pair = (
            RecordPair.objects.for_organization(organization)
            .filter(found, link_object=link_object, matched_by=RecordPair.MatchedBy.CREATED)
            .first()
        )
        if (
            pair is None
            or not LinkWrite.objects.for_organization(organization)
            .filter(pair=pair, side=side, operation=LinkWrite.Operation.CREATE)
            .exists()
        ):
            continue
        origin = other_side(side)
        return RecordOrigin(
            connection=link_object.link.connection(origin),
            object=getattr(link_object, f"object_{origin}"),
            record_id=pair.record_id(origin),
            made_by=f"the two-way sync link {link_object.link.name}",
        )
    return None


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
