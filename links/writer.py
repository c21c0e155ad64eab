"""Sending the link's writes (LinkWrite) to the CRMs, and the failed-writes queue's two actions.

    sent = writes_send(link=link)          # due writes, in id order, in batches (upsert_many / update_many)
    write_retry(write, by=manager)         # a FAILED write back to PENDING, its values refreshed from the mirrors
    write_skip(write, by=manager)          # a FAILED write left out for good

Every write is idempotent, so a write a crashed worker left SENDING is simply sent again: creates are upserts by our
id (the pair's leadline_id in the object's external id field), updates set values, a delete of a gone record is no
error. Before a call the write is marked SENDING and the hashes of its values are remembered on the pair ("wa"/"wb"
of its field_state) in one short transaction, so the change coming back through the mirror is known as ours
whatever the timing. No transaction is open during a CRM call.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from crm.errors import CrmAuthError, CrmError, CrmQuotaExhausted, CrmRejected, CrmUnavailable
from crm.registry import provider_for
from links.bulk import rows_update
from links.conversions import (
    conversion_context,
    convert,
    is_empty,
    mirror_value,
    value_from_json,
    value_hash,
    value_jsonable,
    values_equal,
)
from links.metadata import link_specs, object_spec_cached
from links.models import LinkField, LinkObject, LinkWrite, RecordPair, Side, SyncLink, other_side
from sync.models import CrmRecord

logger = structlog.get_logger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
AUTH_WAIT = timedelta(minutes=15)
LOOP_WINDOW = timedelta(hours=1)
# Writes per call when the provider has no batch call of its own (each row is then its own request anyway).
SINGLE_BATCH = 25


def _due(link: SyncLink, now: datetime):
    stale = now - timedelta(seconds=settings.LINKS_LEASE_SECONDS)
    return LinkWrite.objects.unscoped().filter(
        Q(state=LinkWrite.State.PENDING, next_attempt_at__isnull=True)
        | Q(state=LinkWrite.State.PENDING, next_attempt_at__lte=now)
        | Q(state=LinkWrite.State.SENDING, sent_at__lt=stale),
        link=link,
    )


def writes_due(link: SyncLink, *, now: datetime | None = None) -> int:
    """How many of the link's writes are due now (pending and due, or left sending by a crashed worker)."""
    return _due(link, now or timezone.now()).count()


def writes_send(
    *, link: SyncLink, now: datetime | None = None, limit: int = 1000, providers: dict[str, Any] | None = None
) -> int:
    """Send the link's due writes (at most `limit`); how many were sent (done or failed by the CRM's answer).
    Nothing for a link that is not RUNNING. `providers`: side -> the provider to write with (default: each
    connection's own)."""
    if link.state != SyncLink.State.RUNNING:
        return 0
    now = now or timezone.now()
    # the pairs' field_state is read again, locked, when a batch is marked sending: not loaded twice
    writes = list(_due(link, now).select_related("pair").defer("pair__field_state").order_by("id")[:limit])
    if not writes:
        return 0
    writes = _loop_guard(writes, now)
    objects = {lo.pk: lo for lo in LinkObject.objects.unscoped().filter(link=link)}
    groups: dict[tuple[int, str, str], list[LinkWrite]] = defaultdict(list)
    for write in writes:
        kind = LinkWrite.Operation.UPDATE if write.operation == LinkWrite.Operation.ARCHIVE else write.operation
        groups[(write.link_object_id, write.side, kind)].append(write)
    providers = dict(providers or {})
    sent = 0
    for (object_id, side, operation), group in groups.items():
        link_object = objects[object_id]
        provider = providers.get(side) or providers.setdefault(side, provider_for(link.connection(side)))
        try:
            spec = object_spec_cached(
                connection=link.connection(side),
                object=link_object.object_a if side == Side.A else link_object.object_b,
            )
        except CrmError as exc:
            _whole_batch_failed(link, group, exc)
            continue
        size = provider.max_writes_per_call if provider.max_writes_per_call > 1 else SINGLE_BATCH
        for start in range(0, len(group), size):
            batch = group[start : start + size]
            if operation == LinkWrite.Operation.UPDATE:
                batch = _without_target(batch, side, now)
                if not batch:
                    continue
            _mark_sending(batch, side, now)
            try:
                results = _call(provider, link_object, side, operation, spec, batch)
            except CrmError as exc:
                _whole_batch_failed(link, batch, exc)
                if isinstance(exc, CrmAuthError | CrmUnavailable):
                    break  # the rest of this side's group waits as well
                continue
            except NotImplementedError as exc:
                _finish(batch, [(None, _refusal("NOT_SUPPORTED", str(exc)))] * len(batch), side)
                continue
            _finish(batch, results, side)
            _reconnected(link, side)
            sent += len(batch)
    return sent


def _reconnected(link: SyncLink, side: str) -> None:
    """A call to `side` went through: the link no longer says that connection needs reconnecting."""
    if link.pause_reason.startswith(_reconnect_prefix(link, side)):
        SyncLink.objects.unscoped().filter(pk=link.pk, pause_reason=link.pause_reason).update(pause_reason="")
        link.pause_reason = ""


def _reconnect_prefix(link: SyncLink, side: str) -> str:
    return f"The {side.upper()} connection ({link.connection(side).name}) needs reconnecting"


def _loop_guard(writes: list[LinkWrite], now: datetime) -> list[LinkWrite]:
    """Writes to a (pair, side) that had more than LINKS_LOOP_LIMIT writes done within the hour: FAILED, not sent."""
    recent = (
        LinkWrite.objects.unscoped()
        .filter(pair_id__in={w.pair_id for w in writes}, state=LinkWrite.State.DONE, done_at__gte=now - LOOP_WINDOW)
        .values("pair_id", "side")
        .annotate(done=Count("id"))
    )
    looping = {(row["pair_id"], row["side"]) for row in recent if row["done"] >= settings.LINKS_LOOP_LIMIT}
    if not looping:
        return writes
    stopped = [w for w in writes if (w.pair_id, w.side) in looping]
    for write in stopped:
        write.state = LinkWrite.State.FAILED
        write.error_code = "LOOP_SUSPECTED"
        write.error_message = (
            f"More than {settings.LINKS_LOOP_LIMIT} writes to this record within an hour: the two sides may be "
            "undoing each other's changes (a CRM rule or automation). Not sent; retry once the cause is fixed."
        )
        write.transient = False
    LinkWrite.objects.unscoped().bulk_update(stopped, ["state", "error_code", "error_message", "transient"])
    return [w for w in writes if (w.pair_id, w.side) not in looping]


def _without_target(batch: list[LinkWrite], side: str, now: datetime) -> list[LinkWrite]:
    """Updates whose record is still being created on that side wait a little (no attempt spent)."""
    ready = [w for w in batch if w.pair.record_id(side)]
    waiting = [w for w in batch if not w.pair.record_id(side)]
    for write in waiting:
        write.next_attempt_at = now + BACKOFF_BASE
    if waiting:
        LinkWrite.objects.unscoped().bulk_update(waiting, ["next_attempt_at"])
    return ready


def _mark_sending(batch: list[LinkWrite], side: str, now: datetime) -> None:
    with transaction.atomic():
        pairs = {
            pair.pk: pair
            for pair in RecordPair.objects.unscoped().select_for_update().filter(pk__in={w.pair_id for w in batch})
        }
        for write in batch:
            write.state, write.sent_at = LinkWrite.State.SENDING, now
            pair = pairs[write.pair_id]
            for field_id, digest in write.hashes.items():
                pair.field_state.setdefault(field_id, {})["w" + side] = digest
            write.pair = pair
        rows_update(LinkWrite, batch, ["state", "sent_at"])
        rows_update(RecordPair, list(pairs.values()), ["field_state"])


def _typed_values(write: LinkWrite, spec) -> dict[str, Any]:
    values = {}
    for name, value in write.values.items():
        try:
            values[name] = value_from_json(value, spec.field(name))
        except KeyError:
            values[name] = value  # a field the spec does not list (an archive value): as given
    return values


def _call(provider, link_object: LinkObject, side: str, operation: str, spec, batch: list[LinkWrite]) -> list:
    """The CRM call for a batch of one operation: [(record id or None, error or None)] per write, in order."""
    object = link_object.object_a if side == Side.A else link_object.object_b
    if operation == LinkWrite.Operation.CREATE:
        external_field = link_object.external_id_a if side == Side.A else link_object.external_id_b
        if not external_field:  # no upsert key: a plain create (a retry after a lost answer could duplicate)
            return [(provider.create_record(object=object, values=_typed_values(w, spec)), None) for w in batch]
        rows = [{**_typed_values(w, spec), external_field: str(w.pair.leadline_id)} for w in batch]
        results = provider.upsert_many(object=object, external_id_field=external_field, rows=rows)
        return [(r.record_id or None, r.error) for r in results]
    if operation == LinkWrite.Operation.UPDATE:
        updates = [(w.pair.record_id(side), _typed_values(w, spec)) for w in batch]
        results = provider.update_many(object=object, updates=updates)
        return [(r.record_id or None, r.error) for r in results]
    answers = []
    for write in batch:  # DELETE: one record per call in every CRM's interface
        try:
            provider.delete_record(object=object, record_id=write.pair.record_id(side))
        except CrmRejected as exc:
            answers.append((None, exc))
        else:
            answers.append((write.pair.record_id(side), None))
    return answers


def _refusal(code: str, message: str) -> CrmRejected:
    return CrmRejected(message, code=code)


def _finish(batch: list[LinkWrite], results: list, side: str) -> None:
    """Record what each write became: done (and the pair's state: both sides agree on its values), or failed."""
    now = timezone.now()
    with transaction.atomic():
        pairs = {
            pair.pk: pair
            for pair in RecordPair.objects.unscoped().select_for_update().filter(pk__in={w.pair_id for w in batch})
        }
        created = {
            w.pk: record_id
            for w, (record_id, error) in zip(batch, results, strict=False)
            if error is None and w.operation == LinkWrite.Operation.CREATE and record_id
        }
        taken = set()
        if created:
            column = "id_a" if side == Side.A else "id_b"
            holders = (
                RecordPair.objects.unscoped()
                .filter(link_object_id=batch[0].link_object_id, **{f"{column}__in": list(created.values())})
                .exclude(**{column: ""})  # the partial unique index on (link object, id), not every pair
            )
            taken = {(getattr(pair, column)) for pair in holders.exclude(pk__in=[w.pair_id for w in batch])}
        for write, (record_id, error) in zip(batch, results, strict=False):
            pair = pairs[write.pair_id]
            write.pair = pair
            if error is None and write.pk in created and created[write.pk] in taken:
                error = _refusal("ALREADY_LINKED", f"record {created[write.pk]} is already linked to another record")
            if error is not None:
                _failed(write, error)
                continue
            write.state, write.done_at, write.transient = LinkWrite.State.DONE, now, False
            write.error_code, write.error_message, write.error_fields = "", "", {}
            if write.operation == LinkWrite.Operation.CREATE and record_id:
                if side == Side.A:
                    pair.id_a = record_id
                else:
                    pair.id_b = record_id
            if write.operation == LinkWrite.Operation.DELETE:
                gone = RecordPair.State.DELETED_A if side == Side.A else RecordPair.State.DELETED_B
                pair.state = RecordPair.State.DELETED if pair.state != RecordPair.State.LINKED else gone
            for field_id, digest in write.hashes.items():
                # What the side holds is learnt from its mirror (the echo); until then our write is what it agrees on.
                state = pair.field_state.setdefault(field_id, {})
                state["g" + side], state["agreed"], state["agreed_at"] = digest, digest, now.isoformat()
        rows_update(
            LinkWrite,
            batch,
            [
                "state",
                "done_at",
                "transient",
                "error_code",
                "error_message",
                "error_fields",
                "attempts",
                "next_attempt_at",
            ],
        )
        rows_update(RecordPair, list(pairs.values()), ["field_state", "id_a", "id_b", "state"])


def _failed(write: LinkWrite, error: Any) -> None:
    write.state = LinkWrite.State.FAILED
    write.transient = False
    write.error_code = str(getattr(error, "code", "") or type(error).__name__)[:100]
    write.error_message = str(getattr(error, "message", "") or error)
    write.error_fields = dict(getattr(error, "field_errors", {}) or {})


def _whole_batch_failed(link: SyncLink, batch: list[LinkWrite], exc: CrmError) -> None:
    """A call that failed as a whole: auth waits for a reconnect, transient errors back off, refusals fail."""
    now = timezone.now()
    for write in batch:
        write.error_code = str(exc.code or type(exc).__name__)[:100]
        write.error_message = exc.message
        if isinstance(exc, CrmAuthError):
            write.state, write.next_attempt_at, write.transient = LinkWrite.State.PENDING, now + AUTH_WAIT, True
        elif isinstance(exc, CrmUnavailable):
            write.transient = True
            if not isinstance(exc, CrmQuotaExhausted):
                write.attempts += 1
            if write.attempts >= settings.LINKS_WRITE_MAX_ATTEMPTS:
                write.state = LinkWrite.State.FAILED
            else:
                wait = max(timedelta(seconds=exc.retry_after or 0), BACKOFF_BASE * 2 ** max(write.attempts - 1, 0))
                write.state, write.next_attempt_at = LinkWrite.State.PENDING, now + min(wait, BACKOFF_CAP)
        else:
            _failed(write, exc)
    rows_update(
        LinkWrite,
        batch,
        ["state", "next_attempt_at", "transient", "attempts", "error_code", "error_message", "error_fields"],
    )
    if isinstance(exc, CrmAuthError):
        side = batch[0].side
        reason = f"{_reconnect_prefix(link, side)}: {exc.message}"
        SyncLink.objects.unscoped().filter(pk=link.pk).update(pause_reason=reason[:300])
        link.pause_reason = reason[:300]


# --- the failed-writes queue ---------------------------------------------------------------------------------------
def write_retry(write: LinkWrite, *, by: Any = None) -> LinkWrite:
    """A FAILED write back to PENDING now (attempts 0), its update values refreshed from the current mirrors: a
    field the target already holds is dropped; nothing left -> SUPERSEDED."""
    now = timezone.now()
    if write.operation == LinkWrite.Operation.UPDATE:
        _values_refresh(write)
    write.resolved_by, write.resolved_at = by, now
    write.error_code, write.error_message, write.error_fields, write.transient = "", "", {}, False
    write.attempts, write.next_attempt_at, write.sent_at = 0, None, None
    write.origin = LinkWrite.Origin.RETRY
    write.state = (
        LinkWrite.State.PENDING
        if write.values or write.operation != LinkWrite.Operation.UPDATE
        else (LinkWrite.State.SUPERSEDED)
    )
    write.save()
    if write.state == LinkWrite.State.PENDING:
        from links.tasks import links_apply_enqueue

        transaction.on_commit(lambda: links_apply_enqueue(write.link_id))
    return write


def _values_refresh(write: LinkWrite) -> None:
    link = write.link
    pair = write.pair
    specs = link_specs(link)[write.link_object_id]
    side, source = write.side, other_side(write.side)
    spec_t, spec_s = (specs[0], specs[1]) if side == Side.A else (specs[1], specs[0])
    rows = {}
    for s in (Side.A, Side.B):
        record_id = pair.record_id(s)
        rows[s] = (
            CrmRecord.objects.unscoped()
            .filter(
                organization_id=link.organization_id,
                connection=link.connection(s),
                object=write.link_object.object_a if s == Side.A else write.link_object.object_b,
                external_id=record_id,
            )
            .first()
            if record_id
            else None
        )
    context = conversion_context(link)
    fields = {str(f.pk): f for f in LinkField.objects.unscoped().filter(link_object_id=write.link_object_id)}
    values, hashes = {}, {}
    for field_id in write.hashes:
        link_field = fields.get(field_id)
        if link_field is None:
            continue
        name_t = link_field.field_a if side == Side.A else link_field.field_b
        name_s = link_field.field_b if side == Side.A else link_field.field_a
        try:
            field_t, field_s = spec_t.field(name_t), spec_s.field(name_s)
        except KeyError:
            continue  # a field gone from a CRM: not written
        try:
            value = convert(
                mirror_value(rows[source], field_s),
                source=field_s,
                target=field_t,
                link_field=link_field,
                to_side=side,
                context=context,
            )
        except Exception:
            if field_t.name in write.values:
                values[field_t.name], hashes[field_id] = write.values[field_t.name], write.hashes[field_id]
            continue
        if is_empty(value) and not link_field.clears:
            continue
        if rows[side] is not None and values_equal(value, mirror_value(rows[side], field_t), field_t):
            continue
        values[field_t.name], hashes[field_id] = value_jsonable(value), value_hash(value)
    write.values, write.hashes = values, hashes


def write_skip(write: LinkWrite, *, by: Any = None) -> LinkWrite:
    """A write left out for good: SKIPPED, and its fields marked agreed on the pair so they are not planned again
    until a side changes them."""
    now = timezone.now()
    with transaction.atomic():
        pair = RecordPair.objects.unscoped().select_for_update().get(pk=write.pair_id)
        for field_id in write.hashes:
            state = pair.field_state.setdefault(field_id, {})
            state["agreed_at"] = now.isoformat()
            for side in (Side.A, Side.B):  # each side's value as it is now is the agreed one
                if side in state:
                    state["g" + side] = state[side]
        pair.save(update_fields=["field_state", "updated_at"])
        write.state, write.resolved_by, write.resolved_at = LinkWrite.State.SKIPPED, by, now
        write.save(update_fields=["state", "resolved_by", "resolved_at"])
    return write
