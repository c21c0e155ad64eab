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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm.records import CanonicalRecord
    from studios.models import Organization, ProviderAccount

Receiver = Callable[..., Any]

RECORDS_DISCOVERED_RECEIVERS: list[Receiver] = []


def _register(receivers: list[Receiver]) -> Callable[[Receiver], Receiver]:
    def register(func: Receiver) -> Receiver:
        if func not in receivers:  # a module imported twice registers once
            receivers.append(func)
        return func

    return register


on_records_discovered = _register(RECORDS_DISCOVERED_RECEIVERS)


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
