"""factory-boy factories for messaging, consistent by construction: a conversation's contact and studio are of its
organization, and a message belongs to its conversation's studio, contact and organization.

    ContactFactory(organization=org)
    ConversationFactory(studio=studio)                      # the organization follows the studio
    ConversationFactory(studio=None, organization=org)      # the unassigned queue
    MessageFactory(studio=studio)                           # in the studio's conversation with a new contact
    MessageFactory(conversation=conversation, direction="outbound", status="failed", error_code="30003")
    OptOutFactory(organization=org, phone="+14155550100")   # a ledger row only; opt_out_set also writes history

Factories write rows directly: they bypass the services (no CRM write-back, no conversation_touch).
"""

import factory
from factory.django import DjangoModelFactory

from django.utils import timezone

from core.models import InboundEvent
from messaging.models import (
    Contact,
    Conversation,
    CrmWriteBack,
    Message,
    MessagingSettings,
    OptOut,
    OptOutEvent,
    OptOutSource,
    OptOutState,
)
from tests.factories import OrganizationFactory, StudioFactory

# +1 617 555 1000 and up: never one of our numbers (PhoneNumberFactory uses +1 415 555 2000 and up).
CONTACT_PHONES = factory.Sequence(lambda n: f"+1617555{1000 + n % 9000:04d}")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# Our side of a message without a `phone_number=`: not a factory number, not a documented example.
OUR_NUMBER = "+14155551000"

UNSET = _Unset()  # "not given", where None means something (studio=None: the unassigned queue)


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    organization = factory.SubFactory(OrganizationFactory)
    phone = CONTACT_PHONES
    name = factory.Faker("name")


class ConversationFactory(DjangoModelFactory):
    """Pass `studio=` (its organization is used), or `organization=` (a new studio of it), or `studio=None,
    organization=` for an unassigned conversation. `contact=` defaults to a new contact of the organization."""

    class Meta:
        model = Conversation

    organization = None
    studio = UNSET
    contact = None
    last_message_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        organization, studio, contact = kwargs["organization"], kwargs["studio"], kwargs["contact"]
        if organization is None:
            if studio not in (UNSET, None):
                organization = studio.organization
            elif contact is not None:
                organization = contact.organization
            else:
                organization = OrganizationFactory()
        if studio is UNSET:
            studio = StudioFactory(organization=organization)
        if contact is None:
            contact = ContactFactory(organization=organization)
        if studio is not None and studio.organization_id != organization.pk:
            raise ValueError(f"studio {studio} is not of {organization}")
        if contact.organization_id != organization.pk:
            raise ValueError(f"contact {contact} is not of {organization}")
        return {**kwargs, "organization": organization, "studio": studio, "contact": contact}


class MessageFactory(DjangoModelFactory):
    """An inbound text by default (contact → our number: `phone_number=`'s, else OUR_NUMBER).

    `studio=` puts it in that studio's conversation with a new contact (`studio=None, organization=`: the
    unassigned queue); `conversation=` in that conversation."""

    class Meta:
        model = Message

    organization = None
    studio = UNSET
    conversation = None
    contact = None
    direction = Message.Direction.INBOUND
    body = factory.Faker("sentence")
    from_number = None
    to_number = None
    provider = "twilio"
    status = None
    occurred_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        conversation = kwargs["conversation"]
        if conversation is None:
            thread = {"contact": kwargs["contact"]} if kwargs["contact"] is not None else {}
            if kwargs["studio"] is not UNSET:
                thread["studio"] = kwargs["studio"]
            if kwargs["organization"] is not None:
                thread["organization"] = kwargs["organization"]
            conversation = ConversationFactory(**thread)
        studio = conversation.studio if kwargs["studio"] is UNSET else kwargs["studio"]
        if studio is not None and studio.organization_id != conversation.organization_id:
            raise ValueError(f"studio {studio} is not of {conversation.organization}")
        contact = conversation.contact
        ours = kwargs["phone_number"].number if kwargs.get("phone_number") else OUR_NUMBER
        inbound = kwargs["direction"] == Message.Direction.INBOUND
        default_status = Message.Status.RECEIVED if inbound else Message.Status.DELIVERED
        return {
            **kwargs,
            "conversation": conversation,
            "organization": conversation.organization,
            "studio": studio,
            "contact": contact,
            "from_number": kwargs["from_number"] or (contact.phone if inbound else ours),
            "to_number": kwargs["to_number"] or (ours if inbound else contact.phone),
            "status": kwargs["status"] or default_status,
        }


class OptOutFactory(DjangoModelFactory):
    class Meta:
        model = OptOut

    organization = factory.SubFactory(OrganizationFactory)
    phone = CONTACT_PHONES
    state = OptOutState.OPTED_OUT
    source = OptOutSource.KEYWORD
    reason = ""
    changed_at = factory.LazyFunction(timezone.now)


class OptOutEventFactory(DjangoModelFactory):
    class Meta:
        model = OptOutEvent

    opt_out = factory.SubFactory(OptOutFactory)
    organization = factory.SelfAttribute("opt_out.organization")
    state = factory.SelfAttribute("opt_out.state")
    source = factory.SelfAttribute("opt_out.source")
    reason = factory.SelfAttribute("opt_out.reason")
    created_at = factory.LazyFunction(timezone.now)


class CrmWriteBackFactory(DjangoModelFactory):
    class Meta:
        model = CrmWriteBack

    organization = factory.SubFactory(OrganizationFactory)
    phone = CONTACT_PHONES
    field = "SMS_Opt_Out"
    value = True


class MessagingSettingsFactory(DjangoModelFactory):
    """One row per organization (a second one for the same organization is an IntegrityError)."""

    class Meta:
        model = MessagingSettings

    organization = factory.SubFactory(OrganizationFactory)
    crm_opt_out_field = "SMS_Opt_Out"


class InboundEventFactory(DjangoModelFactory):
    """A recorded webhook (core.InboundEvent); `organization=None` for one no tenant could be found for."""

    class Meta:
        model = InboundEvent

    source = "twilio.sms"
    idempotency_key = factory.Sequence(lambda n: f"SM{n:032d}")
    organization = factory.SubFactory(OrganizationFactory)
    payload = factory.LazyAttribute(lambda o: {"MessageSid": o.idempotency_key, "Body": "hello"})
