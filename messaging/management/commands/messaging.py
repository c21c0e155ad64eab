"""manage.py messaging: the operators' view of texting, and the scheduler's jobs run by hand.

status [--org SLUG]        messages of the last 24 h by status, what waits and what needs a person
retry                      send every pending text whose backoff has elapsed (and queued ones whose task was lost)
sweep                      re-enqueue recorded webhooks that were never processed or failed
poll-voice [--number E164] read now what providers without webhooks hold (every polled number, or one)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Min
from django.utils import timezone

from core.models import InboundEvent
from core.webhooks import inbound_events_sweep
from messaging.models import Conversation, Message
from messaging.providers import registry as sms_providers
from messaging.services.sending import messages_retry_due
from studios.models import Organization, PhoneNumber


class Command(BaseCommand):
    help = "Texting for operators: status, and the scheduler's jobs (retry, sweep, poll-voice) run by hand."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="messages of the last 24 h by status, and what needs a person")
        status.add_argument("--org", help="an organization's slug (default: every one)")
        sub.add_parser("retry", help="send pending texts whose backoff has elapsed")
        sub.add_parser("sweep", help="re-enqueue webhooks never processed or failed")
        poll = sub.add_parser("poll-voice", help="poll now the SMS logs of providers that send no webhooks")
        poll.add_argument("--number", help="one polled number (E.164); default: every active one")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        getattr(self, "handle_" + action.replace("-", "_"))(**options)

    def handle_status(self, *, org: str | None = None, **_: Any) -> None:
        organizations = Organization.objects.unscoped().order_by("slug")
        if org:
            organizations = organizations.filter(slug=org)
            if not organizations.exists():
                raise CommandError(f"No organization {org!r}.")
        since = timezone.now() - timedelta(hours=24)
        self.stdout.write(f"{'organization':<20} {'status':<12} {'24 h':>7}")
        for organization in organizations:
            counts = (
                Message.objects.for_organization(organization)
                .filter(created_at__gte=since)
                .values("status")
                .annotate(n=Count("id"))
                .order_by("status")
            )
            for row in counts:
                self.stdout.write(f"{organization.slug:<20} {row['status']:<12} {row['n']:>7}")
            pending = Message.objects.for_organization(organization).filter(status=Message.Status.PENDING)
            oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
            unassigned = Conversation.objects.for_organization(organization).filter(needs_attention=True).count()
            flagged = InboundEvent.objects.filter(organization=organization, status=InboundEvent.Status.FLAGGED).count()
            self.stdout.write(
                f"{organization.slug:<20} pending {pending.count()} (oldest {oldest:%Y-%m-%d %H:%M} UTC)"
                if oldest
                else f"{organization.slug:<20} pending 0"
            )
            self.stdout.write(
                f"{organization.slug:<20} needs attention: {unassigned} conversations, {flagged} webhooks"
            )
        unowned = InboundEvent.objects.filter(organization__isnull=True).exclude(status="processed").count()
        if unowned:
            self.stdout.write(f"webhooks with no organization, unprocessed: {unowned}")

    def handle_retry(self, **_: Any) -> None:
        self.stdout.write(f"{messages_retry_due()} text(s) enqueued for sending.")

    def handle_sweep(self, **_: Any) -> None:
        self.stdout.write(f"{inbound_events_sweep(older_than_seconds=0)} webhook event(s) enqueued.")

    def handle_poll_voice(self, *, number: str | None = None, **_: Any) -> None:
        polls = {name: poll for name in sms_providers.providers() if (poll := sms_providers.poll(name)) is not None}
        numbers = (
            PhoneNumber.objects.unscoped()
            .filter(provider__in=polls, is_active=True)
            .select_related("account", "organization")
            .order_by("number")
        )
        if number:
            numbers = numbers.filter(number=number)
            if not numbers.exists():
                raise CommandError(f"No active number {number} of a provider that is polled.")
        for phone_number in numbers:
            # The provider's poll task run in place, so its per-number lock keeps this from overlapping the
            # scheduled poll.
            self.stdout.write(f"{phone_number.number}: {polls[phone_number.provider](phone_number.pk)}")
