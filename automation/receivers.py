"""Lead automation's part in messaging's flow: receivers of messaging's hooks (messaging/hooks.py), registered
when the app starts (AutomationConfig.ready), so messaging never imports automation."""

from __future__ import annotations

from automation.services.common import step_record
from automation.services.replies import reply_received
from messaging.hooks import on_inbound_message, on_keyword_reply_failed
from messaging.models import Message
from studios.models import Studio


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
