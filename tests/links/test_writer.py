"""The writer against a real emulator over HTTP: side B a HubSpot portal on the sandbox, side A a connection no
test writes to (its lead spec primed, as Salesforce describes a lead). Writes go through HubSpot's batch upsert by
the unique leadline_id and batch update; the failed-writes queue's retry and skip; backoff; the loop guard; a
crashed worker's SENDING write."""

from datetime import timedelta

import pytest

from django.utils import timezone

from crm.records import CanonicalRecord, FieldSpec, FieldType, ObjectSpec
from links.conversions import value_hash
from links.metadata import object_spec_prime
from links.models import LinkField, LinkObject, LinkWrite, RecordPair
from links.writer import write_retry, write_skip, writes_send
from studios.models import ProviderAccount
from tests.crm.harness_hubspot import Harness as HubSpotHarness
from tests.factories import OrganizationFactory
from tests.links.conftest import link_make, mirror_write

LEAD_A = ObjectSpec(
    name="lead",
    vendor_name="Lead",
    fields=(
        FieldSpec("LastName", FieldType.TEXT, key="last_name"),
        FieldSpec("Email", FieldType.EMAIL, key="email"),
        FieldSpec("Leadline_Id__c", FieldType.TEXT, custom=True, unique=True),
    ),
)


class Crms:
    def __init__(self, server):
        self.organization = OrganizationFactory(slug="writer-test")
        self.hs = HubSpotHarness(server=server, organization=self.organization)
        self.connection_a = ProviderAccount.objects.create(
            organization=self.organization, name="side-a", kind="salesforce", client_id="c", refresh_token="r"
        )
        object_spec_prime(connection=self.connection_a, object="lead", spec=LEAD_A)
        self.link = link_make(
            organization=self.organization, connection_a=self.connection_a, connection_b=self.hs.connection()
        )
        self.leads = LinkObject.objects.create(
            organization=self.organization,
            link=self.link,
            object_a="lead",
            object_b="lead",
            external_id_a="Leadline_Id__c",
            external_id_b=self.hs.external_id_field,
            match_by=["email"],
            deletes=LinkObject.Deletes.MIRROR,
        )
        self.last_name = LinkField.objects.create(
            organization=self.organization, link_object=self.leads, field_a="LastName", field_b="lastname"
        )
        self.email = LinkField.objects.create(
            organization=self.organization, link_object=self.leads, field_a="Email", field_b="email"
        )

    def mirror_a(self, record_id, **fields):
        """Side A's mirror row as the Salesforce mapping keeps a lead (fields by the spec's keys)."""
        record = CanonicalRecord(object="lead", id=record_id, modified_time=timezone.now(), fields=fields)
        mirror_write(self.connection_a, "lead", [record])

    def providers(self):
        return {"b": self.hs.provider()}

    def send(self):
        return writes_send(link=self.link, providers=self.providers())

    def pair(self, id_a="", id_b=""):
        return RecordPair.objects.create(
            organization=self.organization,
            link=self.link,
            link_object=self.leads,
            id_a=id_a,
            id_b=id_b,
            matched_by=RecordPair.MatchedBy.CREATED if not id_b else RecordPair.MatchedBy.EMAIL,
        )

    def write(self, pair, operation, values, *, side="b", **options):
        hashes = {
            str(field.pk): value_hash(values[field.field_b])
            for field in (self.last_name, self.email)
            if field.field_b in values
        }
        return LinkWrite.objects.create(
            organization=self.organization,
            link=self.link,
            link_object=self.leads,
            pair=pair,
            side=side,
            operation=operation,
            origin=LinkWrite.Origin.A,
            values=values,
            hashes=hashes,
            **options,
        )


@pytest.fixture
def crms(db, empty_sandbox):
    return Crms(empty_sandbox)


def fresh(write):
    write.refresh_from_db()
    write.pair.refresh_from_db()
    return write


def test_a_create_is_an_upsert_by_our_id_and_links_the_new_record(crms):
    pair = crms.pair(id_a="00Qexample")
    create = crms.write(pair, "create", {"lastname": "Ng", "email": "ng@x.test"})
    assert crms.send() == 1
    create = fresh(create)
    assert create.state == LinkWrite.State.DONE
    record = crms.hs.read_record("lead", create.pair.id_b)
    assert (record["lastname"], record["email"], record["leadline_id"]) == ("Ng", "ng@x.test", str(pair.leadline_id))
    state = create.pair.field_state[str(crms.last_name.pk)]
    assert state["wb"] == state["gb"] == value_hash("Ng")


def test_a_sending_write_of_a_dead_worker_is_sent_again_without_a_duplicate(crms):
    pair = crms.pair(id_a="00Qexample")
    create = crms.write(pair, "create", {"lastname": "Ng"})
    crms.send()
    first_id = fresh(create).pair.id_b
    # the worker died after the CRM took the create but before it recorded the answer
    RecordPair.objects.unscoped().filter(pk=pair.pk).update(id_b="")
    LinkWrite.objects.unscoped().filter(pk=create.pk).update(
        state=LinkWrite.State.SENDING, sent_at=timezone.now() - timedelta(hours=1)
    )
    assert crms.send() == 1
    create = fresh(create)
    assert (create.state, create.pair.id_b) == (LinkWrite.State.DONE, first_id)
    assert crms.hs.record_ids("lead") == [first_id]


def test_updates_go_in_one_batch(crms):
    ids = [crms.hs.create_record("lead", {"lastname": f"N{n}", "email": f"n{n}@x.test"}) for n in range(3)]
    updates = [
        crms.write(crms.pair(id_a=f"00Q{n}", id_b=record_id), "update", {"lastname": f"M{n}"})
        for n, record_id in enumerate(ids)
    ]
    written = crms.hs.records_written()
    assert crms.send() == 3
    assert all(fresh(update).state == LinkWrite.State.DONE for update in updates)
    assert [crms.hs.read_record("lead", record_id)["lastname"] for record_id in ids] == ["M0", "M1", "M2"]
    assert crms.hs.records_written() - written == 3


def test_a_refused_write_fails_with_the_crms_words_then_a_retry_after_the_fix_succeeds(crms):
    sf_id = "00Q000000000001"
    crms.mirror_a(sf_id, last_name="Ng")
    hs_id = crms.hs.create_record("lead", {"lastname": "Old", "email": "ng@x.test"})
    crms.hs.refuse_writes("lead", field="lastname", message="Last names are set by the front desk")
    update = crms.write(crms.pair(id_a=sf_id, id_b=hs_id), "update", {"lastname": "Ng"})
    crms.send()
    update = fresh(update)
    assert (update.state, update.transient) == (LinkWrite.State.FAILED, False)
    assert "Last names are set by the front desk" in update.error_message
    assert crms.hs.read_record("lead", hs_id)["lastname"] == "Old"

    crms.hs.allow_writes("lead")
    update = write_retry(update)
    assert (update.state, update.origin, update.attempts, update.values) == ("pending", "retry", 0, {"lastname": "Ng"})
    crms.send()
    assert fresh(update).state == LinkWrite.State.DONE
    assert crms.hs.read_record("lead", hs_id)["lastname"] == "Ng"


def test_a_retry_of_a_value_the_target_now_holds_is_superseded(crms):
    sf_id = "00Q000000000001"
    crms.mirror_a(sf_id, last_name="Ng")
    hs_id = crms.hs.create_record("lead", {"lastname": "Ng"})
    mirror_write(crms.hs.connection(), "lead", [crms.hs.provider().record(object="lead", record_id=hs_id)])
    update = crms.write(crms.pair(id_a=sf_id, id_b=hs_id), "update", {"lastname": "Ng"}, state="failed")
    assert write_retry(update).state == LinkWrite.State.SUPERSEDED


def test_skip(crms):
    hs_id = crms.hs.create_record("lead", {"lastname": "Old"})
    update = crms.write(crms.pair(id_a="00Q1", id_b=hs_id), "update", {"lastname": "Ng"}, state="failed")
    update = write_skip(update)
    assert update.state == LinkWrite.State.SKIPPED
    assert update.resolved_at is not None
    assert fresh(update).pair.field_state[str(crms.last_name.pk)]["agreed_at"]


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_outages_back_off_and_stay_pending(crms, status):
    hs_id = crms.hs.create_record("lead", {"lastname": "Old"})
    update = crms.write(crms.pair(id_a="00Q1", id_b=hs_id), "update", {"lastname": "Ng"})
    crms.hs.fail_writes(status=status, times=0)
    crms.send()
    update = fresh(update)
    assert (update.state, update.attempts, update.transient) == (LinkWrite.State.PENDING, 1, True)
    assert update.next_attempt_at >= timezone.now() + timedelta(seconds=25)
    assert crms.send() == 0  # not due yet


def test_the_loop_guard_stops_a_record_written_too_often(crms, settings):
    settings.LINKS_LOOP_LIMIT = 3
    hs_id = crms.hs.create_record("lead", {"lastname": "Old"})
    pair = crms.pair(id_a="00Q1", id_b=hs_id)
    for n in range(3):
        crms.write(pair, "update", {"lastname": f"L{n}"}, state="done", done_at=timezone.now())
    looping = crms.write(pair, "update", {"lastname": "Ng"})
    written = crms.hs.records_written()
    crms.send()
    looping = fresh(looping)
    assert (looping.state, looping.error_code) == (LinkWrite.State.FAILED, "LOOP_SUSPECTED")
    assert crms.hs.records_written() == written


def test_a_delete_removes_the_linked_record(crms):
    hs_id = crms.hs.create_record("lead", {"lastname": "Gone"})
    delete = crms.write(crms.pair(id_a="00Q1", id_b=hs_id), "delete", {})
    crms.send()
    assert fresh(delete).state == LinkWrite.State.DONE
    assert crms.hs.read_record("lead", hs_id) is None


def test_a_revoked_connection_keeps_the_writes_and_says_it_needs_reconnecting(crms):
    hs_id = crms.hs.create_record("lead", {"lastname": "Old"})
    update = crms.write(crms.pair(id_a="00Q1", id_b=hs_id), "update", {"lastname": "Ng"})
    crms.hs.revoke_grant()
    crms.hs.revoke_access_tokens()
    crms.send()
    update = fresh(update)
    assert (update.state, update.attempts) == (LinkWrite.State.PENDING, 0)
    assert update.next_attempt_at >= timezone.now() + timedelta(minutes=14)
    crms.link.refresh_from_db()
    assert crms.link.state == "running"
    assert "needs reconnecting" in crms.link.pause_reason
