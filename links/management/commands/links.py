"""manage.py links preview|start|pause|resume|status [--organization SLUG] [--link NAME]

Operators' tool for two-way sync links (docs/links.md): the preview (dry run) of a first sync, starting a link (the
first writes), pausing and resuming it, and each link's status. Without --organization it acts on every
organization's links; with it, only on that organization's (a link name is unique within an organization only).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import ApplicationError
from crm.errors import CrmError
from links.models import SyncLink
from studios.models import Organization

ACTIONS = {
    "preview": "what starting would do (matched, to create, to update, conflicts, ambiguous); writes nothing",
    "start": "start a link: match the two mirrors and begin writing to both CRMs",
    "pause": "stop writing (changes are still recorded)",
    "resume": "write again what was recorded meanwhile",
    "status": "per link: state, lag p50/p99, pending, failed, conflicts, open reviews",
}
COUNTS = ("matched", "create_a", "create_b", "update_a", "update_b", "conflicts", "ambiguous")


class Command(BaseCommand):
    help = "Two-way sync links: preview, start, pause, resume, status (docs/links.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for name, text in ACTIONS.items():
            action = sub.add_parser(name, help=text)
            action.add_argument("--organization", "--org", dest="organization", help="an organization's slug")
            action.add_argument("--link", help="a link's name (default: every link of the organizations)")
            if name == "pause":
                action.add_argument("--reason", default="", help="why (shown in the status and the admin)")

    def handle(self, *args: Any, action: str, organization: str | None = None, link: str | None = None, **options):
        if action == "start" and not link:
            # Starting writes to two CRMs: one link at a time, named, never every draft link at once.
            raise CommandError("Name the link to start: --link NAME (and --organization SLUG).")
        links = self.links(organization, link)
        if action == "start" and len(links) > 1:
            slugs = ", ".join(each.organization.slug for each in links)
            raise CommandError(f"Organizations {slugs} each have a link {link!r}: add --organization SLUG.")
        if not links:
            self.stdout.write("No links.")
            return
        for each in links:
            try:
                getattr(self, f"handle_{action}")(each, **options)
            except ApplicationError as exc:
                raise CommandError(f"{self.label(each)}: {exc.message}") from exc
            except CrmError as exc:
                raise CommandError(f"{self.label(each)}: a CRM did not answer: {exc}") from exc

    def links(self, slug: str | None, name: str | None) -> list[SyncLink]:
        """The links asked for; CommandError for an unknown organization or link (never another organization's)."""
        organizations = Organization.objects.unscoped().order_by("slug")  # operators' tool: every tenant
        if slug:
            organizations = organizations.filter(slug=slug)
            if not organizations.exists():
                raise CommandError(f"No organization {slug!r}.")
        found: list[SyncLink] = []
        for organization in organizations:
            links = SyncLink.objects.for_organization(organization).select_related(
                "organization", "connection_a", "connection_b"
            )
            if name:
                links = links.filter(name=name)
            found.extend(links.order_by("name"))
        if name and not found:
            where = f" in {slug}" if slug else ""
            raise CommandError(f"No link {name!r}{where}.")
        return found

    @staticmethod
    def label(link: SyncLink) -> str:
        return f"{link.organization.slug}/{link.name}"

    # --- actions ----------------------------------------------------------------------------------------------
    def handle_preview(self, link: SyncLink, **_: Any) -> None:
        from links.preview import link_preview

        preview = link_preview(link)
        self.stdout.write(self.style.MIGRATE_HEADING(f"{self.label(link)} ({link.state}): preview, nothing written"))
        if preview["objects"]:
            self.stdout.write(self.table(preview))
        if preview["problems"]:
            self.stdout.write(self.style.ERROR("Problems (the link cannot start until they are fixed):"))
            for problem in preview["problems"]:
                self.stdout.write(self.style.ERROR(f"  - {problem}"))
        for counts in preview["objects"]:
            for example in counts["examples"]["ambiguous"]:
                self.stdout.write(
                    f"  ambiguous: {counts['object']}: {example['side'].upper()} {example['id']} matches "
                    f"{', '.join(example['candidates'])} by {example['by']} ({example['value']})"
                )

    @staticmethod
    def table(preview: dict[str, Any]) -> str:
        """The counts per object pair, one row each ("?" where the engine could not say)."""
        header = ["object", *COUNTS]
        rows = [header]
        for counts in preview["objects"]:
            rows.append([counts["object"], *("?" if counts[key] is None else str(counts[key]) for key in COUNTS)])
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
        for counts in preview["objects"]:
            if counts["matched_by"]:
                rules = ", ".join(f"{rule} {n}" for rule, n in sorted(counts["matched_by"].items()))
                lines.append(f"{counts['object']}: matched by {rules}")
        return "\n".join(lines)

    def handle_start(self, link: SyncLink, **_: Any) -> None:
        from links.services import LinkConfigError, link_start

        was = link.state
        try:
            link = link_start(link)
        except LinkConfigError as exc:
            problems = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(f"{self.label(link)} cannot start:\n{problems}") from exc
        if was == SyncLink.State.RUNNING:
            self.stdout.write(f"{self.label(link)}: already running (started {link.started_at:%Y-%m-%d %H:%M}).")
        else:
            self.stdout.write(self.style.SUCCESS(f"{self.label(link)}: started; the first sync is under way."))

    def handle_pause(self, link: SyncLink, *, reason: str = "", **_: Any) -> None:
        from links.services import link_pause

        link = link_pause(link, reason=reason)
        self.stdout.write(f"{self.label(link)}: paused ({link.pause_reason}).")

    def handle_resume(self, link: SyncLink, **_: Any) -> None:
        from links.services import link_resume

        link = link_resume(link)
        self.stdout.write(self.style.SUCCESS(f"{self.label(link)}: running."))

    def handle_status(self, link: SyncLink, **_: Any) -> None:
        from links.selectors import link_status

        status = link_status(link)
        lag = "-"
        if status.lag_p50_seconds is not None:
            lag = f"{status.lag_p50_seconds:.0f}s / {status.lag_p99_seconds:.0f}s"
        self.stdout.write(
            f"{self.label(link)}: {status.state}  lag p50/p99 {lag}  pending {status.pending_changes} changes, "
            f"{status.pending_writes} writes  failed {status.failed_writes}  conflicts (24 h) {status.conflicts_24h}"
            f"  open reviews {status.open_reviews}"
        )
        if status.blocked_reason:
            self.stdout.write(self.style.WARNING(f"  blocked: {status.blocked_reason}"))
        if link.pause_reason and link.state == SyncLink.State.PAUSED:
            self.stdout.write(f"  paused: {link.pause_reason}")
