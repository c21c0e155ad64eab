"""manage.py sync: the CRM mirror for operators.

run [--org SLUG] [--module NAME]      sync now (every active organization, every configured module by default)
status [--org SLUG] [--module NAME]   the last runs and the lag per module
backfill [--org SLUG] [--module NAME] the first load with Bulk Read, resumable, with a progress bar
reconcile [--org SLUG] [--module NAME] every id against Zoho (permanent deletes) and formula fields re-read
views [--org SLUG] [--module NAME]    the per-module SQL views, from the organization's field metadata
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from studios.models import Organization
from sync.backfill import backfill_run
from sync.delta import sync_run
from sync.management.progress import ProgressBar
from sync.models import SyncRun
from sync.reconcile import reconcile_run
from sync.selectors import sync_runs_recent, sync_status_list
from sync.sql_views import mirror_view_refresh_from_zoho, view_name


class Command(BaseCommand):
    help = "The CRM mirror: run a sync now, or show the last runs and the lag per module."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in (
            ("run", "sync now"),
            ("status", "the last runs and the lag per module"),
            ("backfill", "the first load with Bulk Read (resumes an unfinished one)"),
            ("reconcile", "compare every id with Zoho and re-read formula fields"),
            ("views", "create or refresh the per-module SQL views (mirror_leads, ...) from Zoho's field metadata"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("--org", help="an organization's slug (default: every active one)")
            action.add_argument("--module", help="a Zoho module's API name (default: SYNC_MODULES)")

    def handle(self, *args: Any, action: str, org: str | None = None, module: str | None = None, **_: Any) -> None:
        organizations = Organization.objects.unscoped().order_by("slug")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"No organization {org!r}.")
        else:
            organizations = organizations.filter(is_active=True)
        modules = [module] if module else list(settings.SYNC_MODULES)
        getattr(self, f"handle_{action}")(list(organizations), modules)

    def handle_run(self, organizations: list[Organization], modules: list[str]) -> None:
        self._each_run(
            organizations,
            modules,
            "run(s)",
            lambda organization, module: sync_run(organization=organization, module=module),
        )

    def _each_run(self, organizations: list[Organization], modules: list[str], noun: str, start) -> None:
        """`start(organization, module)` for every pair, a summary line per run, and an error if any failed."""
        failed = 0
        for organization in organizations:
            for module in modules:
                run = start(organization, module)
                failed += run.status == run.Status.FAILED
                self.stdout.write(_summary(organization, module, run))
        if failed:
            raise CommandError(f"{failed} {noun} failed")

    def handle_status(self, organizations: list[Organization], modules: list[str]) -> None:
        self.stdout.write(f"{'organization':<20} {'module':<12} {'lag':>10} {'watermark':<26} {'last run'}")
        for organization in organizations:
            for status in sync_status_list(organization=organization, modules=modules):
                lag = "-" if status.lag_seconds is None else f"{status.lag_seconds:.0f}s"
                mark = status.watermark.isoformat() if status.watermark else "-"
                last = status.last_run
                text = f"{last.status} {last.started_at:%Y-%m-%d %H:%M:%S}" if last else "never"
                self.stdout.write(
                    f"{organization.slug:<20} {status.module:<12} {lag:>10} {mark:<26} {text}"
                    + (" (running now)" if status.running else "")
                )
        self.stdout.write("")
        self.stdout.write(
            f"{'organization':<20} {'module':<12} {'run':>6} {'status':<8} {'started':<19} "
            f"{'ins':>6} {'upd':>6} {'del':>5} {'quar':>5} {'credits':>7}  error"
        )
        for organization in organizations:
            for module in modules:
                for run in sync_runs_recent(organization=organization, module=module, limit=5):
                    self.stdout.write(
                        f"{organization.slug:<20} {module:<12} {run.pk:>6} {run.status:<8} "
                        f"{run.started_at:%Y-%m-%d %H:%M:%S} {run.inserted:>6} {run.updated:>6} {run.deleted:>5} "
                        f"{run.quarantined:>5} {run.credits_used:>7}  {run.error[:60]}"
                    )

    def handle_backfill(self, organizations: list[Organization], modules: list[str]) -> None:
        def start(organization: Organization, module: str) -> SyncRun:
            bar = ProgressBar(self.stderr, f"{organization.slug} {module}")
            try:
                return backfill_run(organization=organization, module=module, progress=bar.update)
            finally:
                bar.close()

        self._each_run(organizations, modules, "backfill(s)", start)

    def handle_reconcile(self, organizations: list[Organization], modules: list[str]) -> None:
        self._each_run(
            organizations,
            modules,
            "reconciliation(s)",
            lambda organization, module: reconcile_run(organization=organization, module=module),
        )

    def handle_views(self, organizations: list[Organization], modules: list[str]) -> None:
        failed = 0
        for organization in organizations:
            for module in modules:
                try:
                    outcome = mirror_view_refresh_from_zoho(organization=organization, module=module)
                except Exception as exc:  # one organization's Zoho (or a view in the way) does not stop the others
                    failed += 1
                    outcome = f"failed: {type(exc).__name__}: {exc}"
                self.stdout.write(f"{organization.slug} {module} {view_name(module)}: {outcome}")
        if failed:
            raise CommandError(f"{failed} view(s) not refreshed")


def _summary(organization: Organization, module: str, run: SyncRun) -> str:
    return (
        f"{organization.slug} {module}: {run.status} inserted={run.inserted} updated={run.updated} "
        f"deleted={run.deleted} quarantined={run.quarantined} credits={run.credits_used}"
        + (f" error={run.error}" if run.error else "")
    )
