"""Lead automation's part in messaging's and the CRM mirror's flows: receivers of messaging's hooks
(messaging/hooks.py) and of the CRM layer's (crm/hooks.py), registered when the app starts (AutomationConfig.ready),
so neither messaging nor sync imports automation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from automation.services.common import step_record
from automation.services.discovered import lead_intakes_discovered
from automation.services.replies import reply_received
from crm.hooks import on_records_discovered
from crm.records import CanonicalObject, CanonicalRecord
from messaging.hooks import on_inbound_message, on_keyword_reply_failed
from messaging.models import Message
from studios.models import Organization, ProviderAccount, Studio


@on_inbound_message
def inbound_message_received(*, message: Message, keyword: str | None) -> None:
    """Every new inbound text may be the reply keyword (a YES asks for the follow-up), START included; messaging
    has answered STOP and HELP, which are not replies."""
    if keyword in ("STOP", "HELP"):
        return
    reply_received(message=message)


@on_keyword_reply_failed
def keyword_reply_failed(*, message: Message, studio: Studio, keyword: str, reason: str) -> None:
    """Into the automation log managers read (e.g. `help_reply` failed: the help text's merge fields were blank)."""
    step = f"{keyword.lower()}_reply"
    step_record(organization=message.organization, studio=studio, step=step, outcome="failed", detail=reason)


@on_records_discovered
def records_discovered(
    *,
    organization: Organization,
    connection: ProviderAccount,
    object: str,
    records: Sequence[CanonicalRecord],
    sync_interval: timedelta,
) -> None:
    """Leads new to the mirror: an intake waiting for the CRM's new-lead call for each recent one without one."""
    if object != CanonicalObject.LEAD:
        return
    lead_intakes_discovered(
        organization=organization, connection=connection, records=records, sync_interval=sync_interval
    )
