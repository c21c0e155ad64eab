"""The mirror of an object its CRM tracks changes of (Capability.CHANGE_TRACKING): pages of changes since a token.

    if tracked(provider=provider, object="lead"):
        tracked_sync(provider=provider, state=state, run=run, announce=True, notes=notes)

Instead of reading by modified time and asking for deletions apart (sync/delta.py), the run asks the CRM for what
changed since the token it gave at the end of the last run (`tracked_changes`), page by page: records created or
changed, and records deleted. Each page is written in short batch transactions (upserts, then its deletions, no CRM
call inside), and its last batch checkpoints the next page's token (`SyncState.checkpoint_token`), so a killed run
resumes at the page after the last one committed. The last page's token is the next run's
(`SyncState.change_token`). Without a token (the first load) the CRM sends every record: a full read.

The state says what a run in progress is: a checkpoint with a change token is a delta being read, a checkpoint
without one a full read (the change token is emptied when a full read starts).

When the CRM no longer holds the changes since the token (CrmHistoryExpired: the token is too old, or a paging link
died), the run reads every record again from no token and reconciles: mirror rows of the object the full read did
not return are gone from the CRM and are marked deleted (the seen-ids table of sync/reconcile.py; a full read
resumed from a crashed run lists every id instead, since its first pages' ids were seen by the dead run). A dead
paging link of a delta is first read again from the delta's own token. The run's notes say what happened, with the
counts (shown on the dashboard and by `manage.py sync status`; a finished resync is also alerted once, Slack and
e-mail as sync/alerts.py sends): never a silent failure.

The records a page gives are the CRM's current state, later than anything the mirror holds of them: they are written
whenever they differ, even with an older modified time (an import may back-date one; sync/upsert.py `current`).

Records new to the mirror are announced after their batch commits, except during the object's first load (their
records are old), as the delta sync does. The datetime watermark still moves with the newest modified time written,
so the lag on the dashboard means the same as for any other object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

import structlog

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.errors import CrmHistoryExpired
from crm.provider import CrmProvider
from crm.records import Capability, TrackedPage
from sync.alerts import alert_send
from sync.models import SyncRun, SyncState
from sync.prefetch import Prefetcher
from sync.reads import batches
from sync.reconcile import SeenIds, gone_mark, ids_reconcile
from sync.runs import run_checkpoint, run_key
from sync.upsert import UpsertResult, crm_records_mark_deleted, crm_records_upsert, record_copy_line

logger = structlog.get_logger(__name__)

# Every note of a full read after a lapse of change tracking says it with these words (the dashboard finds them).
RESYNC_NOTE = "full resync"
FULL_READS_PER_RUN = 2  # a full read whose paging link dies is started once more, then the run fails
Progress = Callable[[int], None]  # records written so far in this run, after each page


def tracked(*, provider: CrmProvider, object: str) -> bool:
    """Whether the object is mirrored through its CRM's change tracking (may ask the CRM's metadata once)."""
    return provider.supports(Capability.CHANGE_TRACKING) and provider.change_tracked(object=object)


def tracking_forget(*, state: SyncState, run: SyncRun, notes: list[str]) -> None:
    """The object is read by modified time now, though it was tracked (tracking was turned off at the CRM): its token
    is dropped, so that tracking turned on again begins with a full read, not with a token that missed the changes
    in between. A note says so once."""
    if not (state.change_token or state.checkpoint_token):
        return
    with transaction.atomic():
        run_checkpoint(state=state, run=run, now=timezone.now(), change_token="", checkpoint_token="")
    notes.append("change tracking is off at the CRM for this object: read by modified time from now on")


def tracked_sync(
    *,
    provider: CrmProvider,
    state: SyncState,
    run: SyncRun,
    announce: bool = False,
    notes: list[str] | None = None,
    progress: Progress | None = None,
) -> None:
    """Mirror the changes since the object's change token (resuming a crashed run's page), or every record when it
    has none; on CrmHistoryExpired a full read and reconciliation. Lines for the run's notes go to `notes`."""
    _TrackedRead(provider, state, run, announce, notes if notes is not None else [], progress).read()


@dataclass
class _Attempt:
    """One read of the run: a delta from `token`, or a full read. `whole`: a full read this run began from its
    first page (so the seen-ids table holds every id it returned)."""

    token: str
    full: bool
    whole: bool
    records: int = 0


class _TrackedRead:
    def __init__(
        self,
        provider: CrmProvider,
        state: SyncState,
        run: SyncRun,
        announce: bool,
        notes: list[str],
        progress: Progress | None,
    ) -> None:
        self.provider, self.state, self.run, self.notes, self.progress = provider, state, run, notes, progress
        self.key = run_key(run)
        self.page_size = settings.SYNC_TRACKED_PAGE_SIZE
        # sync.delta imports this module: its announcing helpers are imported here.
        from sync.delta import announce_interval, discovered_announce

        self.announce = discovered_announce
        self.interval = announce_interval(run) if announce else None
        self.asked = ""  # the token of the page asked last (set by the prefetch thread, read after it ended)
        self.written = 0  # records written by this run
        self.gone = 0  # mirror rows the full read did not return, marked deleted
        # What the run fell back to after an expiry, and why (for its notes).
        self.delta_retried, self.full_reads, self.resynced_because = False, 0, ""
        self.resync_note: str | None = None

    # --- the run ------------------------------------------------------------------------------------------------
    def read(self) -> None:
        # In the run's thread, as the delta sync does: what a provider reads of its connection on first use is read
        # on the run's database connection.
        self.provider.object_spec(object=self.run.object)
        state = self.state
        if state.checkpoint_token:  # a crashed or paused run's page
            attempt = _Attempt(state.checkpoint_token, full=not state.change_token, whole=False)
        else:
            attempt = _Attempt(state.change_token, full=not state.change_token, whole=not state.change_token)
        self.full_reads = int(attempt.full)
        while True:
            try:
                final = self._attempt(attempt)
                break
            except CrmHistoryExpired as exc:
                attempt = self._after_expiry(attempt, exc)
        if attempt.full:
            self._full_read_end(attempt, final)

    def _after_expiry(self, attempt: _Attempt, exc: CrmHistoryExpired) -> _Attempt:
        """What to read after the CRM said the token asked last (`asked`) is no longer served; raises `exc` when
        nothing is left to fall back to (a full read's first page, or a full read given up)."""
        failed, change_token = self.asked, self.state.change_token
        logger.warning(
            "sync.tracked.expired",
            run_id=self.run.pk,
            crm_object=self.run.object,
            full=attempt.full,
            asked_first_page=failed in ("", change_token),
            error=str(exc),
        )
        if failed == "":
            raise exc  # a full read's first page: nothing older to fall back to
        if not attempt.full and failed != change_token and not self.delta_retried:
            # A paging link of the delta died (a crashed run's, or one left too long): the delta's own token gives
            # the same changes again, and re-written pages are unchanged rows.
            self.delta_retried = True
            self.notes.append("change tracking: a paging link expired; the changes were read again")
            self._tokens_set(checkpoint_token="")
            return _Attempt(change_token, full=False, whole=False)
        self.full_reads += 1
        if self.full_reads > FULL_READS_PER_RUN:
            raise exc
        if attempt.full:
            self.resynced_because = self.resynced_because or "a full read's paging link expired"
        elif failed == change_token:
            self.resynced_because = "change tracking expired"
        else:
            self.resynced_because = "a paging link of the changes expired twice"
        self._tokens_set(change_token="", checkpoint_token="")  # the state now says: a full read
        self._resync_noted(f"{self.resynced_because}: {RESYNC_NOTE} begun")  # said even if the run fails
        return _Attempt("", full=True, whole=True)

    def _attempt(self, attempt: _Attempt) -> str:
        """Read and write every page of one attempt; returns the last page's token (the next run's). A full read
        keeps its last page's link as the checkpoint until the run has reconciled (`_full_read_end`)."""
        with (
            SeenIds(self.run.pk) if attempt.whole else nullcontext() as seen,
            Prefetcher(self._pages(attempt.token), name=f"sync-tracked-{self.run.pk}") as pages,
        ):
            for page in pages:
                if seen is not None and page.records:
                    seen.add([record.id for record in page.records])
                self._page_write(page, attempt)
                attempt.records += len(page.records)
                if not page.has_more:
                    if seen is not None:
                        self.gone = self._gone_mark(seen)
                    return page.token
        raise RuntimeError("the CRM's change tracking ended without a last page")

    def _pages(self, token: str) -> Iterator[TrackedPage]:
        """The pages from `token` on, read in the prefetch thread one page ahead of the writes."""
        while True:
            self.asked = token
            page = self.provider.tracked_changes(object=self.run.object, token=token, page_size=self.page_size)
            if not page.token or (page.has_more and page.token == token):
                # Checked before the page is written: its token is what the checkpoint or the next run goes on from.
                raise RuntimeError(f"the CRM's change tracking gave no token to go on from after {token[:200]!r}")
            for record in page.records:
                # The JSON, hash and COPY line the upsert writes, built here (kept on each record) while the writing
                # thread waits on the database, instead of in that thread's batches.
                record_copy_line(record)
            yield page
            if not page.has_more:
                return
            token = page.token

    # --- the mirror's side --------------------------------------------------------------------------------------
    def _page_write(self, page: TrackedPage, attempt: _Attempt) -> None:
        """The page's records in batches, its deletions with the last batch, and the token to go on from with it:
        the next page's link, or the next run's token after a delta's last page. A full read's last page leaves
        the checkpoint at its own link (the run reconciles, then stores the token)."""
        size = max(int(settings.SYNC_BATCH_SIZE), 1)
        chunks = list(batches(page.records, size=size)) or [[]]
        for number, chunk in enumerate(chunks, start=1):
            last = number == len(chunks)
            now = timezone.now()
            values: dict[str, object] = {}
            newest = max((record.modified_time for record in chunk), default=None)
            if newest is not None and (self.state.watermark is None or newest > self.state.watermark):
                values["watermark"] = newest
            if last and page.has_more:
                values["checkpoint_token"] = page.token
            elif last and not attempt.full:
                values.update(change_token=page.token, checkpoint_token="")
            with transaction.atomic():
                result = UpsertResult()
                if chunk:  # the CRM's current state: written when it differs, even back-dated (an import)
                    result = crm_records_upsert(key=self.key, records=chunk, run_id=self.run.pk, now=now, current=True)
                marked = 0
                if last and page.deleted:
                    deletions = {item.id: item.deleted_at or now for item in page.deleted}
                    marked = crm_records_mark_deleted(key=self.key, deletions=deletions, run_id=self.run.pk, now=now)
                run_checkpoint(state=self.state, run=self.run, now=now, **values)  # LockLost rolls the batch back
                SyncRun.objects.unscoped().filter(pk=self.run.pk).update(
                    inserted=F("inserted") + result.inserted,
                    updated=F("updated") + result.updated,
                    quarantined=F("quarantined") + result.quarantined,
                    deleted=F("deleted") + marked,
                )
                if self.interval is not None and result.inserted_ids:
                    found = [record for record in chunk if record.id in result.inserted_ids]
                    transaction.on_commit(partial(self.announce, self.run, found, self.interval))
        self.written += len(page.records)
        if self.progress is not None:
            self.progress(self.written)

    def _gone_mark(self, seen: SeenIds) -> int:
        """Mark deleted the live mirror rows the whole full read did not return; how many."""
        before = self._deleted()
        gone_mark(self.state, self.run, seen.sealed())
        return self._deleted() - before

    def _full_read_end(self, attempt: _Attempt, token: str) -> None:
        """After a full read: mirror rows it did not return are gone (marked while the seen-ids table was there, or
        now by listing every id when the read was resumed), then the token is the next run's."""
        if not attempt.whole:
            before = self._deleted()
            ids_reconcile(provider=self.provider, state=self.state, run=self.run)
            self.gone = self._deleted() - before
        self._tokens_set(change_token=token, checkpoint_token="")
        gone, because = self.gone, self.resynced_because
        if because:
            self._resync_noted(f"{because}: {RESYNC_NOTE}, {attempt.records} re-read, {gone} marked deleted")
            self._resync_alert()
        elif not attempt.whole and self._loaded_before():
            self.notes.append(
                f"change tracking: {RESYNC_NOTE} resumed, {attempt.records} re-read, {gone} marked deleted"
            )
        elif gone:
            self.notes.append(f"change tracking: full read, {gone} mirror rows not in the CRM marked deleted")

    # --- helpers -------------------------------------------------------------------------------------------------
    def _resync_noted(self, note: str) -> None:
        """The run's one note about its full resync: a later one (the counts, a second start) replaces it."""
        if self.resync_note is not None:
            self.notes.remove(self.resync_note)
        self.resync_note = note
        self.notes.append(note)

    def _resync_alert(self) -> None:
        """Operators hear of a full resync once, when it is done (Slack and e-mail, as the mirror's alerts): every
        record was read again, and what the CRM deleted meanwhile was found by comparing ids."""
        organization = self.run.organization
        alert_send(
            subject=f"Leadline sync: {organization.name} {self.run.object} {RESYNC_NOTE}",
            text=f"Sync of {organization.name} ({organization.slug}) {self.run.object}, run {self.run.pk}: "
            f"{self.resync_note}.",
        )

    def _tokens_set(self, **tokens: str) -> None:
        with transaction.atomic():
            run_checkpoint(state=self.state, run=self.run, now=timezone.now(), **tokens)

    def _deleted(self) -> int:
        return SyncRun.objects.unscoped().filter(pk=self.run.pk).values_list("deleted", flat=True).get()

    def _loaded_before(self) -> bool:
        from sync.delta import loaded_before  # sync.delta imports this module

        return loaded_before(self.run)
