"""Every messaging model's `objects`, across organizations and studios: unscoped use fails closed; an organization
never sees another's rows; managers see all of theirs; staff see their studios' threads (not another studio's, not
the unassigned queue) and none of the opt-out ledger or the organization's machinery; inactive people see nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.tenancy import UnscopedQueryError
from messaging.models import (
    Contact,
    Conversation,
    CrmWriteBack,
    Message,
    MessagingSettings,
    OptOut,
    OptOutEvent,
)
from messaging.providers.zoho_voice.models import ZohoVoicePollCursor
from tests.factories import MembershipFactory
from tests.messaging.factories import (
    ContactFactory,
    ConversationFactory,
    CrmWriteBackFactory,
    MessageFactory,
    MessagingSettingsFactory,
    OptOutEventFactory,
    OptOutFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [
    Contact,
    Conversation,
    Message,
    OptOut,
    OptOutEvent,
    CrmWriteBack,
    MessagingSettings,
    ZohoVoicePollCursor,
]


@dataclass
class Rows:
    """One organization's messaging rows, by model, and which of them belong to its first studio's threads."""

    tenant: object
    rows: dict = field(default_factory=dict)  # model -> set of pks (all of the organization)
    studio_rows: dict = field(default_factory=dict)  # model -> set of pks a staff member of tenant.studio sees


def build(tenant) -> Rows:
    org = tenant.organization
    own, other = tenant.studio, tenant.other_studio
    # A contact with threads in both studios (staff of `own` see the contact, once, but not the other thread),
    # one only in the other studio, one only in the unassigned queue.
    both = ContactFactory(organization=org)
    elsewhere = ContactFactory(organization=org)
    unassigned = ContactFactory(organization=org)
    conv_own = ConversationFactory(studio=own, contact=both)
    conv_other = ConversationFactory(studio=other, contact=both)
    conv_elsewhere = ConversationFactory(studio=other, contact=elsewhere)
    conv_queue = ConversationFactory(studio=None, organization=org, contact=unassigned)
    msgs_own = [MessageFactory(conversation=conv_own), MessageFactory(conversation=conv_own, direction="outbound")]
    msgs_rest = [MessageFactory(conversation=c) for c in (conv_other, conv_elsewhere, conv_queue)]
    opt_out = OptOutFactory(organization=org, phone=both.phone)
    opt_event = OptOutEventFactory(opt_out=opt_out)
    write_back = CrmWriteBackFactory(organization=org, contact=both, phone=both.phone)
    settings_row = MessagingSettingsFactory(organization=org)
    cursor = ZohoVoicePollCursor.unscoped_objects.create(organization=org, phone_number=tenant.number)
    return Rows(
        tenant=tenant,
        rows={
            Contact: {both.pk, elsewhere.pk, unassigned.pk},
            Conversation: {conv_own.pk, conv_other.pk, conv_elsewhere.pk, conv_queue.pk},
            Message: {m.pk for m in msgs_own + msgs_rest},
            OptOut: {opt_out.pk},
            OptOutEvent: {opt_event.pk},
            CrmWriteBack: {write_back.pk},
            MessagingSettings: {settings_row.pk},
            ZohoVoicePollCursor: {cursor.pk},
        },
        studio_rows={
            Contact: {both.pk},
            Conversation: {conv_own.pk},
            Message: {m.pk for m in msgs_own},
            # The ledger and the organization's machinery are managers' business.
            OptOut: set(),
            OptOutEvent: set(),
            CrmWriteBack: set(),
            MessagingSettings: set(),
            ZohoVoicePollCursor: set(),
        },
    )


@pytest.fixture
def worlds(tenant_a, tenant_b) -> tuple[Rows, Rows]:
    return build(tenant_a), build(tenant_b)


def pks(queryset) -> set[int]:
    return set(queryset.values_list("pk", flat=True))


ids = [m.__name__ for m in MODELS]


@pytest.mark.parametrize("model", MODELS, ids=ids)
@pytest.mark.parametrize(
    "evaluate",
    [
        list,
        len,
        bool,
        lambda qs: qs.count(),
        lambda qs: qs.exists(),
        lambda qs: qs.first(),
        lambda qs: list(qs.values_list("pk", flat=True)),
        lambda qs: list(qs.iterator()),
        lambda qs: qs.update(organization=None),
        lambda qs: qs.delete(),
    ],
    ids=["list", "len", "bool", "count", "exists", "first", "values_list", "iterator", "update", "delete"],
)
def test_unscoped_use_of_objects_raises(worlds, model, evaluate):
    with pytest.raises(UnscopedQueryError):
        evaluate(model.objects.all())
    with pytest.raises(UnscopedQueryError):
        evaluate(model.objects.filter(organization=worlds[0].tenant.organization))  # a filter is not a scope
    assert model.unscoped_objects.count() == len(worlds[0].rows[model]) + len(worlds[1].rows[model])


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_get_by_id_through_objects_raises_unscoped(worlds, model):
    pk = next(iter(worlds[0].rows[model]))
    with pytest.raises(UnscopedQueryError):
        model.objects.get(pk=pk)


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_for_organization_returns_exactly_its_own_rows(worlds, model):
    a, b = worlds
    assert pks(model.objects.for_organization(a.tenant.organization)) == a.rows[model]
    assert pks(model.objects.for_organization(b.tenant.organization)) == b.rows[model]
    # B's rows cannot be reached through A's scope, even by id.
    for pk in b.rows[model]:
        assert not model.objects.for_organization(a.tenant.organization).filter(pk=pk).exists()
        with pytest.raises(model.DoesNotExist):
            model.objects.for_organization(a.tenant.organization).get(pk=pk)
    assert pks(model.objects.for_organization(None)) == set()


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_a_manager_sees_all_of_their_organization_and_nothing_of_another(worlds, model):
    a, b = worlds
    assert pks(model.objects.visible_to(a.tenant.manager)) == a.rows[model]
    assert pks(model.objects.visible_to(b.tenant.manager)) == b.rows[model]


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_staff_see_only_their_studios_threads(worlds, model):
    a, b = worlds
    assert pks(model.objects.visible_to(a.tenant.staff)) == a.studio_rows[model]
    assert pks(model.objects.visible_to(b.tenant.staff)) == b.studio_rows[model]
    # Counting agrees with listing (the contact with threads in two studios is counted once).
    assert model.objects.visible_to(a.tenant.staff).count() == len(a.studio_rows[model])


@pytest.mark.parametrize("model", [Contact, Conversation, Message], ids=["Contact", "Conversation", "Message"])
def test_staff_of_both_studios_see_both_but_never_the_unassigned_queue(worlds, model):
    a, _ = worlds
    both = MembershipFactory(
        organization=a.tenant.organization, studios=[a.tenant.studio, a.tenant.other_studio], user__email="two@a.test"
    )
    seen = pks(model.objects.visible_to(both))
    queue_conversations = Conversation.objects.for_organization(a.tenant.organization).filter(studio=None)
    queue = {
        Contact: set(queue_conversations.values_list("contact_id", flat=True)),
        Conversation: pks(queue_conversations),
        Message: pks(Message.objects.for_organization(a.tenant.organization).filter(studio=None)),
    }[model]
    assert seen == a.rows[model] - queue
    assert queue  # the queue exists; staff just never see it


def test_a_staff_member_of_no_studio_sees_nothing(worlds):
    a, _ = worlds
    idle = MembershipFactory(organization=a.tenant.organization, studios=[], user__email="idle@a.test")
    for model in MODELS:
        assert pks(model.objects.visible_to(idle)) == set(), model.__name__


@pytest.mark.parametrize("model", MODELS, ids=ids)
@pytest.mark.parametrize("who", ["manager", "staff"])
@pytest.mark.parametrize("how", ["membership", "user"])
def test_inactive_members_see_nothing(worlds, model, who, how):
    a, _ = worlds
    member = getattr(a.tenant, who)
    target = member if how == "membership" else member.user
    target.is_active = False
    target.save()
    member.refresh_from_db()
    assert pks(model.objects.visible_to(member)) == set()


@pytest.mark.parametrize("model", MODELS, ids=ids)
def test_no_member_sees_nothing(worlds, model):
    assert pks(model.objects.visible_to(None)) == set()


def test_a_member_of_another_organization_given_a_studio_of_ours_still_sees_only_their_own(worlds):
    """Even a membership row wired (wrongly) to another organization's studio gets no rows of that organization:
    the organization scope comes first."""
    a, b = worlds
    stray = MembershipFactory(organization=b.tenant.organization, studios=[a.tenant.studio], user__email="x@b.test")
    for model in (Contact, Conversation, Message):
        assert pks(model.objects.visible_to(stray)) & a.rows[model] == set(), model.__name__
