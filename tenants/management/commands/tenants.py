"""manage.py tenants apply FILE | tenants export [--organization SLUG] [--format yaml|json] [--output FILE]"""

import json
import sys
from typing import Any

import yaml

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.apply import tenants_apply
from tenants.export import tenants_export
from tenants.schema import TenantsFileError, load_document


class Command(BaseCommand):
    help = "Apply or export organizations, studios, numbers, members and provider accounts (docs/tenants.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        apply = sub.add_parser("apply", help="Create or update what a YAML/JSON file describes, all or nothing.")
        apply.add_argument("file", help="Path to the tenants file (.yaml, .yml or .json); '-' reads stdin.")
        apply.add_argument("--dry-run", action="store_true", help="Check and report, then roll everything back.")
        export = sub.add_parser("export", help="Write the tenants file for what is in the database (no secrets).")
        export.add_argument(
            "--organization",
            action="append",
            dest="organizations",
            metavar="SLUG",
            help="Only this organization (repeatable). Default: all.",
        )
        export.add_argument("--format", choices=["yaml", "json"], default="yaml")
        export.add_argument("--output", "-o", help="Write to this file instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "apply":
            self.apply(options["file"], dry_run=options["dry_run"])
        else:
            self.export(options["organizations"], options["format"], options["output"])

    def apply(self, path: str, *, dry_run: bool) -> None:
        try:
            if path == "-":
                raw = yaml.safe_load(sys.stdin.read())
                if not isinstance(raw, dict):
                    raise TenantsFileError(["stdin: expected a mapping with an 'organizations' list at the top."])
            else:
                raw = load_document(path)
            report = tenants_apply(raw=raw, dry_run=dry_run)
        except TenantsFileError as exc:
            count = len(exc.errors)
            lines = "\n".join(f"  - {error}" for error in exc.errors)
            raise CommandError(f"{count} problem{'s' if count != 1 else ''}; nothing was applied:\n{lines}") from exc
        for line in report.lines():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was saved."))
        elif report.changed:
            self.stdout.write(self.style.SUCCESS("Applied."))
        else:
            self.stdout.write(self.style.SUCCESS("Already up to date."))

    def export(self, organizations: list[str] | None, fmt: str, output: str | None) -> None:
        document = tenants_export(organization_slugs=organizations)
        if organizations:
            missing = sorted(set(organizations) - {o["slug"] for o in document["organizations"]})
            if missing:
                raise CommandError(f"No organization with slug {', '.join(missing)}.")
        header = "# Leadline tenants file. Secrets are not exported: add them as env:NAME references to apply.\n"
        if fmt == "json":
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        else:
            text = header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
            self.stderr.write(f"Wrote {len(document['organizations'])} organization(s) to {output}.")
        else:
            self.stdout.write(text, ending="")
