"""What other apps do when the CRM layer's users learn something, without those apps importing each other.

The CRM mirror (sync/) and lead automation (automation/) sit in the same layer and must not import each other; both
import crm. So the mirror announces here what it found, and automation registers a receiver when Django starts (its
`AppConfig.ready` imports automation/receivers.py), as messaging's hooks work (messaging/hooks.py). Receivers run in
the caller's flow, one after another in the order they were registered, and an exception in one reaches the caller
as if it had called the receiver itself.

- `on_records_discovered`: records the mirror holds for the first time, read by a delta run that is not the
  object's first load (never a backfill, a reconciliation or a first run: those find old records, not new ones).
  Called after the batch that inserted them committed, with `organization`, `connection` (the CRM connection, a
  `studios.ProviderAccount`), `object` (canonical name, e.g. "lead"), `records` (the CanonicalRecords, as mapped)
  and `sync_interval` (how often the object is synced: a receiver waiting for something the CRM should have said
  can wait that long).
- `on_records_changed`: records the mirror wrote (new or changed) or marked deleted, in one batch. Called **inside**
  the batch's transaction, so what a receiver writes commits or rolls back with the mirror rows (an outbox: two-way
  sync records the change there and acts after the commit); a receiver makes no call to a CRM and raises only to
  undo the batch. With `organization_id`, `connection_id`, `object`, `records` (the CanonicalRecords written, as
  mapped), `deleted_ids` (ids marked deleted) and `deletion_confirmed` (True when the CRM itself said they were
  deleted: its deletions list, change tracking or a change event; False when they were only missing from a full
  read of every id).
- `record_origin_finder`: "is this record a copy Leadline made of another CRM's record?" A finder gets
  `organization`, `connection`, `object` and `record` (a CanonicalRecord as read) and returns a `RecordOrigin`, or
  None when the record is no copy of its. Two-way sync answers it (a record it created on one side of a link), so
  lead automation does not greet a second time a lead whose original already had its intake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.records import CanonicalRecord
    from studios.models import Organization, ProviderAccount

Receiver = Callable[..., Any]

RECORDS_DISCOVERED_RECEIVERS: list[Receiver] = []
RECORDS_CHANGED_RECEIVERS: list[Receiver] = []
RECORD_ORIGIN_FINDERS: list[Receiver] = []


def _register(receivers: list[Receiver]) -> Callable[[Receiver], Receiver]:
    def register(func: Receiver) -> Receiver:
        if func not in receivers:  # a module imported twice registers once
            receivers.append(func)
        return func

    return register


on_records_discovered = _register(RECORDS_DISCOVERED_RECEIVERS)
on_records_changed = _register(RECORDS_CHANGED_RECEIVERS)
record_origin_finder = _register(RECORD_ORIGIN_FINDERS)


@dataclass(frozen=True)
class RecordOrigin:
    """Where a record Leadline made came from: the record it copies (`connection`, canonical `object`, `record_id`)
    and what made it (`made_by`, e.g. "the two-way sync link summit-sync")."""

    connection: ProviderAccount
    object: str
    record_id: str
    made_by: str


def records_discovered_raise(
    *,
    organization: Organization,
    connection: ProviderAccount,
    object: str,
    records: Sequence[CanonicalRecord],
    sync_interval: timedelta,
) -> None:
    """Tell every receiver about records new to the mirror (nothing when there are none)."""
    if not records:
        return
    for receiver in tuple(RECORDS_DISCOVERED_RECEIVERS):
        receiver(
            organization=organization,
            connection=connection,
            object=object,
            records=records,
            sync_interval=sync_interval,
        )


def records_changed_raise(
    *,
    organization_id: int,
    connection_id: int | None,
    object: str,
    records: Sequence[CanonicalRecord] = (),
    deleted_ids: Sequence[str] = (),
    deletion_confirmed: bool = True,
) -> None:
    """Tell every receiver what a mirror batch changed, inside its transaction (nothing when it changed nothing)."""
    if not records and not deleted_ids:
        return
    for receiver in tuple(RECORDS_CHANGED_RECEIVERS):
        receiver(
            organization_id=organization_id,
            connection_id=connection_id,
            object=object,
            records=records,
            deleted_ids=deleted_ids,
            deletion_confirmed=deletion_confirmed,
        )


def record_origin_find(
    *, organization: Organization, connection: ProviderAccount, object: str, record: CanonicalRecord
) -> RecordOrigin | None:
    """The first finder's answer: the record this one copies, or None when it is no copy Leadline made."""
    for finder in tuple(RECORD_ORIGIN_FINDERS):
        origin = finder(organization=organization, connection=connection, object=object, record=record)
        if origin is not None:
            return origin
    return None
