"""manage.py sync: the CRM mirror for operators.

run [--org SLUG] [--object NAME]       sync now (every active organization, every configured object by default)
status [--org SLUG] [--object NAME]    the last runs and the lag per object
backfill [--org SLUG] [--object NAME]  the first load (the CRM's bulk export when it has one), resumable, with a
                                       progress bar
reconcile [--org SLUG] [--object NAME] every record read again (permanent deletes, formula fields)
views [--org SLUG] [--object NAME]     the per-object SQL views, from the CRM's field specs

Each runs on the organization's default CRM connection. `--module` is the former spelling of `--object`; an
object may be named as the CRM names it (Leads) or canonically (lead).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studios.models import Organization
from sync.backfill import backfill_run
from sync.delta import sync_run
from sync.management.progress import ProgressBar
from sync.models import SyncRun
from sync.objects import configured_objects, object_name
from sync.reconcile import reconcile_run
from sync.runs import NoConnection, run_connection
from sync.selectors import sync_runs_recent, sync_status_list
from sync.sql_views import mirror_view_refresh_from_crm


class Command(BaseCommand):
    help = "The CRM mirror: run a sync now, or show the last runs and the lag per object."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("run", "sync now"),
            ("status", "the last runs and the lag per object"),
            ("backfill", "the first load, with the CRM's bulk export when it has one (resumes an unfinished one)"),
            ("reconcile", "read every record again: permanent deletes, formula fields"),
            ("views", "create or refresh the per-object SQL views (mirror_leads, ...) from the CRM's field specs"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("--org", help="an organization's slug (default: every active one)")
            action.add_argument("--object", "--module", dest="object", help="an object (default: SYNC_MODULES)")

    def handle(self, *args: Any, action: str, org: str | None = None, object: str | None = None, **_: Any) -> None:
        organizations = Organization.objects.unscoped().order_by("slug")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"No organization {org!r}.")
        else:
            organizations = organizations.filter(is_active=True)
        names = [object_name(object)] if object else configured_objects()
        getattr(self, f"handle_{action}")(list(organizations), names)

    def handle_run(self, organizations: list[Organization], names: list[str]) -> None:
        self._each_run(
            organizations,
            names,
            "run(s)",
            lambda organization, name: sync_run(organization=organization, object=name),
        )

    def _each_run(self, organizations: list[Organization], names: list[str], noun: str, start) -> None:
        """`start(organization, object)` for every pair, a summary line per run, and an error if any failed. An
        organization without a (default) CRM connection is said so and counted as failed."""
        failed = 0
        for organization in organizations:
            for name in names:
                try:
                    run = start(organization, name)
                except NoConnection as exc:
                    failed += 1
                    self.stdout.write(f"{organization.slug} {name}: {exc}")
                    continue
                failed += run.status == run.Status.FAILED
                self.stdout.write(_summary(organization, name, run))
        if failed:
            raise CommandError(f"{failed} {noun} failed")

    def handle_status(self, organizations: list[Organization], names: list[str]) -> None:
        self.stdout.write(f"{'organization':<20} {'object':<12} {'lag':>10} {'watermark':<26} {'last run'}")
        for organization in organizations:
            for status in sync_status_list(organization=organization, objects=names):
                lag = "-" if status.lag_seconds is None else f"{status.lag_seconds:.0f}s"
                mark = status.watermark.isoformat() if status.watermark else "-"
                last = status.last_run
                text = f"{last.status} {last.started_at:%Y-%m-%d %H:%M:%S}" if last else "never"
                self.stdout.write(
                    f"{organization.slug:<20} {status.object:<12} {lag:>10} {mark:<26} {text}"
                    + (" (running now)" if status.running else "")
                    + (" (change tracking)" if status.change_tracked else "")
                )
        self.stdout.write("")
        self.stdout.write(
            f"{'organization':<20} {'object':<12} {'run':>6} {'status':<8} {'started':<19} "
            f"{'ins':>6} {'upd':>6} {'del':>5} {'quar':>5} {'credits':>7}  error"
        )
        for organization in organizations:
            for name in names:
                for run in sync_runs_recent(organization=organization, object=name, limit=5):
                    self.stdout.write(
                        f"{organization.slug:<20} {name:<12} {run.pk:>6} {run.status:<8} "
                        f"{run.started_at:%Y-%m-%d %H:%M:%S} {run.inserted:>6} {run.updated:>6} {run.deleted:>5} "
                        f"{run.quarantined:>5} {run.credits_used:>7}  {run.error[:100]}"
                    )

    def handle_backfill(self, organizations: list[Organization], names: list[str]) -> None:
        def start(organization: Organization, name: str) -> SyncRun:
            bar = ProgressBar(self.stderr, f"{organization.slug} {name}")
            try:
                return backfill_run(organization=organization, object=name, progress=bar.update)
            finally:
                bar.close()

        self._each_run(organizations, names, "backfill(s)", start)

    def handle_reconcile(self, organizations: list[Organization], names: list[str]) -> None:
        self._each_run(
            organizations,
            names,
            "reconciliation(s)",
            lambda organization, name: reconcile_run(organization=organization, object=name),
        )

    def handle_views(self, organizations: list[Organization], names: list[str]) -> None:
        failed = 0
        for organization in organizations:
            for name in names:
                try:
                    run_connection(organization=organization)
                    outcome = mirror_view_refresh_from_crm(organization=organization, object=name)
                except Exception as exc:  # one organization's CRM (or a view in the way) does not stop the others
                    failed += 1
                    outcome = f"failed: {type(exc).__name__}: {exc}"
                self.stdout.write(f"{organization.slug} {name}: {outcome}")
        if failed:
            raise CommandError(f"{failed} view(s) not refreshed")


def _summary(organization: Organization, name: str, run: SyncRun) -> str:
    return (
        f"{organization.slug} {name}: {run.status} inserted={run.inserted} updated={run.updated} "
        f"deleted={run.deleted} quarantined={run.quarantined} credits={run.credits_used}"
        + (f" error={run.error}" if run.error else "")
    )
