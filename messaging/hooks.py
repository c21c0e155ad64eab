"""What other apps do when messaging does something, without messaging importing them.

An app registers its receivers when Django starts (its `AppConfig.ready` imports the module that holds them), the
way webhook processors are registered with `core.webhooks.processor`; lead automation's are in
`automation/receivers.py`. Receivers run in the caller's flow, one after another in the order they were registered,
and an exception in one reaches the caller as if it had called the receiver itself.

- `on_inbound_message`: a new inbound text was saved and routed and its keyword (STOP, START, HELP) handled;
  called with `message` and `keyword` (the keyword handled, or None). A re-delivered text raises nothing.
- `on_keyword_reply_failed`: the answer to a keyword could not be sent (a HELP text whose merge fields are blank);
  called with `message`, `studio`, `keyword` and `reason`. The conversation is flagged for a person either way.
- `crm_owner_finder`: who owns a phone's record in the CRM, when no contact is linked to it yet (the CRM mirror
  knows: sync/receivers.py); called with `organization` and `phone` (E.164), returns a `CrmOwner` or None. The
  first finder that knows answers; none registered: no owner.
- `crm_record_finder`: which CRM record (a lead or contact) has a phone, when no contact is linked to one (the
  mirror knows: sync/receivers.py); called with `organization` and `phone` (E.164), returns a `CrmRecordRef` or
  None. The texts' CRM timeline asks it before asking the CRM (a search costs API calls).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from messaging.models import Message
    from studios.models import Organization, ProviderAccount, Studio

Receiver = Callable[..., Any]

INBOUND_MESSAGE_RECEIVERS: list[Receiver] = []
KEYWORD_REPLY_FAILED_RECEIVERS: list[Receiver] = []
CRM_OWNER_FINDERS: list[Receiver] = []
CRM_RECORD_FINDERS: list[Receiver] = []


@dataclass(frozen=True)
class CrmOwner:
    """A CRM user who owns a record, and the connection (None: the organization's CRM connection) they are in."""

    connection: ProviderAccount | None
    crm_user_id: str


@dataclass(frozen=True)
class CrmRecordRef:
    """A CRM record by its connection (None: the organization's CRM connection), canonical object and id."""

    connection: ProviderAccount | None
    object: str
    record_id: str


def _register(receivers: list[Receiver]) -> Callable[[Receiver], Receiver]:
    def register(func: Receiver) -> Receiver:
        if func not in receivers:  # a module imported twice registers once
            receivers.append(func)
        return func

    return register


on_inbound_message = _register(INBOUND_MESSAGE_RECEIVERS)
on_keyword_reply_failed = _register(KEYWORD_REPLY_FAILED_RECEIVERS)
crm_owner_finder = _register(CRM_OWNER_FINDERS)
crm_record_finder = _register(CRM_RECORD_FINDERS)


def inbound_message_raise(*, message: Message, keyword: str | None) -> None:
    for receiver in tuple(INBOUND_MESSAGE_RECEIVERS):
        receiver(message=message, keyword=keyword)


def keyword_reply_failed_raise(*, message: Message, studio: Studio, keyword: str, reason: str) -> None:
    for receiver in tuple(KEYWORD_REPLY_FAILED_RECEIVERS):
        receiver(message=message, studio=studio, keyword=keyword, reason=reason)


def crm_owner_find(*, organization: Organization, phone: str) -> CrmOwner | None:
    for finder in tuple(CRM_OWNER_FINDERS):
        found = finder(organization=organization, phone=phone)
        if found is not None:
            return found
    return None


def crm_record_find(*, organization: Organization, phone: str) -> CrmRecordRef | None:
    for finder in tuple(CRM_RECORD_FINDERS):
        found = finder(organization=organization, phone=phone)
        if found is not None:
            return found
    return None
