"""The CRM contract: every registered provider, against its emulator over real HTTP, passes these tests.

Provider-neutral: the tests speak to the provider and to the harness (tests/crm/harness.py) only; a CRM whose
provider does not declare a capability skips the tests of that capability, never the rest."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from core.phone import normalize_e164
from crm.errors import (
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmNotificationInvalid,
    CrmRateLimited,
    CrmRejected,
    CrmUnavailable,
)
from crm.records import Activity, Capability, ChangeOperation, Cursor, ExportState, FieldType
from crm.registry import provider_for

LEAD = "lead"


def read_all(provider, *, cursor=None, page_size=5, limit=100):
    """Every page from `cursor` (the start), storing and loading the cursor between pages as a watermark would."""
    pages = []
    cursor = cursor or Cursor.start()
    for _ in range(limit):
        page = provider.changed_since(object=LEAD, cursor=cursor, page_size=page_size)
        pages.append(page)
        cursor = Cursor.loads(page.cursor.dumps())
        if not page.has_more:
            return pages, cursor
    raise AssertionError(f"paging did not end after {limit} pages")


def order_key(record):
    return (record.modified_time, int(record.id) if record.id.isdigit() else record.id)


# --- connection -----------------------------------------------------------------------------------------------
def test_identity_names_the_crm_org_and_user(harness):
    identity = harness.provider().identity()
    expected = harness.expected_identity()
    assert identity.org_id == expected["org_id"]
    assert identity.user_id in expected["user_ids"]


def test_revoked_access_tokens_are_refreshed_without_a_word(harness):
    provider = harness.provider()
    org_id = provider.identity().org_id
    harness.revoke_access_tokens()
    assert provider.identity().org_id == org_id


def test_connect_consent_and_disconnect(harness):
    connection, org_id = harness.unconnected()
    provider = provider_for(connection)
    session: dict = {}
    params = harness.consent(provider.authorize_url(session=session))
    identity = provider.finish_connect(params=params, session=session, connected_by="manager@leadline.test")
    assert identity.org_id == org_id
    assert provider.identity().org_id == org_id
    with pytest.raises(CrmAuthError):  # a callback is single use
        provider.finish_connect(params=params, session=session)
    provider.disconnect()
    with pytest.raises(CrmAuthError):
        provider_for(connection).identity()


def test_a_revoked_grant_is_an_auth_error(harness):
    provider = harness.provider()
    harness.seed_leads(2)
    provider.identity()
    harness.revoke_grant()
    with pytest.raises(CrmAuthError) as caught:
        provider.changed_since(object=LEAD, cursor=Cursor.start())
    assert caught.value.provider == harness.kind
    assert not caught.value.retryable
    with pytest.raises(CrmAuthError):
        harness.provider().identity()


# --- schema ---------------------------------------------------------------------------------------------------
def test_schema_lists_lead_fields_with_phone_fields_typed_phone(harness):
    provider = harness.provider()
    assert LEAD in [spec.name for spec in provider.objects()]
    spec = provider.object_spec(object=LEAD)
    assert spec.name == LEAD
    assert spec.field(harness.phone_field).type == FieldType.PHONE
    assert harness.phone_field in [field.name for field in spec.phone_fields]
    assert spec.field(harness.opt_out_field).type == FieldType.BOOLEAN
    assert spec.field(harness.last_name_field).type == FieldType.TEXT
    with pytest.raises(ValueError, match="unknown object"):
        provider.object_spec(object="spaceship")


# --- reads ----------------------------------------------------------------------------------------------------
def test_paging_with_ties_at_page_boundaries_loses_and_repeats_nothing(harness):
    ids = harness.seed_leads(12)
    tied = ids[:7]
    moment = harness.stamp_together(tied, values={harness.last_name_field: "Bulk"})
    pages, _ = read_all(harness.provider(), page_size=5)
    records = [record for page in pages for record in page.records]
    assert sorted(record.id for record in records) == sorted(ids)  # each once
    assert [order_key(record) for record in records] == sorted(order_key(record) for record in records)
    at_moment = [record for record in records if record.modified_time == moment]
    assert sorted(record.id for record in at_moment) == sorted(tied)
    # a page boundary falls inside the tied records (else the test proves nothing)
    assert any(
        page.records and page.records[-1].id in tied and following.records and following.records[0].id in tied
        for page, following in itertools.pairwise(pages)
    )


def test_nothing_new_is_an_empty_last_page_and_overlap_reads_again(harness):
    ids = harness.seed_leads(4)
    provider = harness.provider()
    _, cursor = read_all(provider, page_size=10)
    page = provider.changed_since(object=LEAD, cursor=cursor)
    assert page.records == ()
    assert not page.has_more
    assert page.cursor == cursor
    assert page.next_cursor is None
    last = max(provider.record(object=LEAD, record_id=record_id).modified_time for record_id in ids)
    again = provider.changed_since(object=LEAD, cursor=cursor.overlapped(timedelta(seconds=1)))
    assert again.records
    assert all(record.modified_time >= last - timedelta(seconds=1) for record in again.records)


def test_an_edit_after_a_read_comes_again_with_its_new_values(harness):
    ids = harness.seed_leads(3)
    provider = harness.provider()
    _, cursor = read_all(provider)
    harness.edit(ids[1], {harness.last_name_field: "Edited"})
    page = provider.changed_since(object=LEAD, cursor=cursor)
    assert [record.id for record in page.records] == [ids[1]]
    assert page.records[0].raw.get(harness.last_name_field) == "Edited"


def test_records_edited_while_paging_are_all_seen_with_their_latest_values(harness):
    ids = harness.seed_leads(30)
    harness.edit_while_paging(after_pages=1, count=8)
    provider = harness.provider()
    pages, _ = read_all(provider, page_size=10)
    latest = {}
    for page in pages:
        for record in page.records:
            latest[record.id] = record
    assert set(latest) == set(ids)
    for record_id, record in latest.items():
        assert record.modified_time == provider.record(object=LEAD, record_id=record_id).modified_time, record_id


def test_record_by_id_in_canonical_terms_and_a_missing_one(harness):
    record_id = harness.create_lead(last_name="Canonical", phone="+14155550177")
    record = harness.provider().record(object=LEAD, record_id=record_id)
    assert (record.object, record.id) == (LEAD, record_id)
    assert record.modified_time.tzinfo is not None
    assert "+14155550177" in record.phones.values()
    assert "Canonical" in record.name
    harness.delete(record_id)
    with pytest.raises(CrmNotFound):
        harness.provider().record(object=LEAD, record_id=record_id)


def test_many_records_by_id_read_as_one_by_id_and_leave_out_the_missing(harness):
    ids = harness.seed_leads(3)
    gone = harness.create_lead(last_name="Gone", phone="+14155550178")
    harness.delete(gone)
    provider = harness.provider()
    found = provider.records(object=LEAD, record_ids=[ids[2], gone, ids[0], ids[2], ids[1]])
    assert sorted(record.id for record in found) == sorted(ids)  # each once, the deleted one left out
    for record in found:
        read = provider.record(object=LEAD, record_id=record.id)
        assert (record.object, record.name, dict(record.phones), record.modified_time, record.owner_id) == (
            read.object,
            read.name,
            dict(read.phones),
            read.modified_time,
            read.owner_id,
        )
    assert provider.records(object=LEAD, record_ids=[]) == []


def test_deletes_are_listed_and_gone_from_all_ids(harness):
    ids = harness.seed_leads(3)
    provider = harness.provider()
    assert sorted(provider.all_ids(object=LEAD)) == sorted(ids)
    since = datetime.now(UTC) - timedelta(seconds=2)
    harness.delete(ids[0])
    assert sorted(provider.all_ids(object=LEAD)) == sorted(ids[1:])
    if not provider.supports(Capability.DELETED_RECORDS):
        return
    deleted = list(provider.deleted_since(object=LEAD, since=since))
    assert [entry.id for entry in deleted] == [ids[0]]
    assert deleted[0].deleted_at is None or deleted[0].deleted_at >= since - timedelta(seconds=1)
    assert list(provider.deleted_since(object=LEAD, since=datetime.now(UTC) + timedelta(minutes=1))) == []


def test_phone_lookup_finds_the_lead_however_the_number_was_typed(harness):
    wanted = harness.create_lead(last_name="Typed", phone="(415) 555-0142")
    harness.create_lead(last_name="Other", phone="+14155550199")
    provider = harness.provider()
    found = provider.records_by_phone(object=LEAD, phone="+14155550142")
    assert [record.id for record in found] == [wanted]
    assert "+14155550142" in found[0].phones.values()
    assert provider.records_by_phone(object=LEAD, phone="+14155550100") == []
    with pytest.raises(ValueError, match=r"E\.164"):
        provider.records_by_phone(object=LEAD, phone="call me")


# --- failures -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_server_errors_are_retried_with_backoff(harness, status):
    ids = harness.seed_leads(3)
    harness.fail_reads(status=status, times=2)
    page = harness.provider().changed_since(object=LEAD, cursor=Cursor.start(), page_size=10)
    assert sorted(record.id for record in page.records) == sorted(ids)
    waits = harness.sleep.waits
    assert len(waits) >= 2
    assert waits[1] > waits[0]  # backing off, not hammering


def test_throttled_to_the_end_is_rate_limited(harness):
    harness.seed_leads(1)
    harness.fail_reads(status=429, times=0)
    with pytest.raises(CrmRateLimited) as caught:
        harness.provider().changed_since(object=LEAD, cursor=Cursor.start())
    assert caught.value.retryable


def test_down_to_the_end_is_unavailable(harness):
    harness.seed_leads(1)
    harness.fail_reads(status=503, times=0)
    with pytest.raises(CrmUnavailable) as caught:
        harness.provider().changed_since(object=LEAD, cursor=Cursor.start())
    assert not isinstance(caught.value, CrmRateLimited)
    assert caught.value.retryable


# --- writes ---------------------------------------------------------------------------------------------------
def test_a_task_is_created_on_a_lead_for_its_owner(harness):
    provider = harness.provider()
    if not provider.supports(Capability.ACTIVITY_LOGGING):
        pytest.skip(f"{harness.kind} logs no activities")
    (lead_id,) = harness.seed_leads(1)
    owner = harness.owner_id()
    task_id = provider.create_task(
        object=LEAD, record_id=lead_id, owner_id=owner, subject="Call the new lead", due_date=datetime.now(UTC).date()
    )
    assert task_id
    assert harness.tasks_on(lead_id) == [{"subject": "Call the new lead", "owner_id": owner}]


def logging_activities(harness):
    provider = harness.provider()
    if not provider.supports(Capability.ACTIVITY_LOGGING):
        pytest.skip(f"{harness.kind} logs no activities")
    return provider


def test_two_activities_logged_in_one_call_are_on_the_lead_completed(harness):
    provider = logging_activities(harness)
    (lead_id,) = harness.seed_leads(1)
    moment = datetime.now(UTC).replace(microsecond=0)
    activities = [
        Activity(
            key=f"contract-{kind}-{lead_id}",
            object=LEAD,
            record_id=lead_id,
            subject=f"SMS {kind} +14155550100",
            description=f"Text {kind}: see you at 6",
            occurred_at=moment,
        )
        for kind in ("to", "from")
    ]
    assert provider.max_activities_per_call >= 2
    logged = provider.log_activities(activities=activities)
    assert [item.key for item in logged] == [activity.key for activity in activities]
    assert all(item.ok and item.activity_id for item in logged), logged
    assert logged[0].activity_id != logged[1].activity_id
    found = harness.activities_on(lead_id)
    assert sorted(item["subject"] for item in found) == ["SMS from +14155550100", "SMS to +14155550100"]
    assert {item["status"].lower() for item in found} == {"completed"}
    assert sorted(item["description"] for item in found) == ["Text from: see you at 6", "Text to: see you at 6"]


def test_an_activity_on_a_deleted_record_is_refused_alone(harness):
    provider = logging_activities(harness)
    gone, kept = harness.seed_leads(2)
    harness.delete(gone)
    activities = [
        Activity(key=f"contract-{record_id}", object=LEAD, record_id=record_id, subject=f"SMS on {record_id}")
        for record_id in (gone, kept)
    ]
    refused, landed = provider.log_activities(activities=activities)
    assert refused.key == activities[0].key
    assert not refused.ok
    assert isinstance(refused.error, CrmRejected)
    assert refused.error.message
    assert landed.ok
    assert landed.activity_id
    assert [item["subject"] for item in harness.activities_on(kept)] == [f"SMS on {kept}"]
    assert harness.activities_on(gone) == []


def test_a_record_url_is_a_web_address_naming_the_record(harness):
    (lead_id,) = harness.seed_leads(1)
    url = harness.provider().record_url(object=LEAD, record_id=lead_id)
    parts = urlsplit(url)
    assert parts.scheme in ("https", "http"), url
    assert parts.netloc, url
    # In its path (/lightning/r/Lead/<id>/view) or as a query parameter of a page (main.aspx?etn=lead&id=<id>).
    named = parts.path.split("/") + [value for values in parse_qs(parts.query).values() for value in values]
    assert lead_id in named or lead_id in parts.path, url


def test_the_opt_out_field_is_written(harness):
    (lead_id,) = harness.seed_leads(1)
    provider = harness.provider()
    provider.update_fields(object=LEAD, record_id=lead_id, values={harness.opt_out_field: True})
    assert harness.read(lead_id)[harness.opt_out_field] is True
    key = provider.object_spec(object=LEAD).field(harness.opt_out_field).key
    assert provider.record(object=LEAD, record_id=lead_id).get(key) is True


def test_a_write_the_crm_refuses_is_rejected_with_its_field(harness):
    (lead_id,) = harness.seed_leads(1)
    provider = harness.provider()
    with pytest.raises(CrmRejected) as caught:
        provider.update_fields(object=LEAD, record_id=lead_id, values={harness.opt_out_field: "not a boolean"})
    assert not isinstance(caught.value, CrmNotFound)
    assert harness.opt_out_field in caught.value.field_errors
    assert caught.value.message


def test_creating_a_lead_returns_an_id_the_crm_knows(harness):
    provider = harness.provider()
    record_id = provider.create_record(object=LEAD, values={harness.last_name_field: "Created"})
    assert harness.read(record_id)[harness.last_name_field] == "Created"


# --- bulk export -----------------------------------------------------------------------------------------------
def exporting(harness):
    provider = harness.provider()
    if not provider.supports(Capability.BULK_EXPORT):
        pytest.skip(f"{harness.kind} has no bulk export")
    return provider


def export_completed(harness, provider, job):
    harness.finish_export(job.id)
    job = provider.export_status(job=job)
    assert job.state == ExportState.COMPLETED, job
    return job


def test_an_export_returns_every_record_once_as_a_read_by_id_does(harness):
    provider = exporting(harness)
    ids = harness.seed_leads(12)
    before = datetime.now(UTC)
    job = provider.export_start(object=LEAD)
    assert (job.object, job.continuation) == (LEAD, "")
    assert job.requested_at is not None
    assert job.requested_at <= datetime.now(UTC)
    assert job.requested_at >= before - timedelta(seconds=2)  # the CRM's clock, in whole seconds
    job = export_completed(harness, provider, job)
    exported = list(provider.export_records(job=job))
    assert sorted(record.id for record in exported) == sorted(ids)  # each once
    for record in exported:
        read = provider.record(object=LEAD, record_id=record.id)
        assert (record.object, record.id, record.name, dict(record.phones), record.modified_time) == (
            read.object,
            read.id,
            read.name,
            dict(read.phones),
            read.modified_time,
        )


def test_an_export_resumes_after_the_records_already_read(harness):
    provider = exporting(harness)
    harness.seed_leads(9)
    job = export_completed(harness, provider, provider.export_start(object=LEAD))
    everything = [record.id for record in provider.export_records(job=job)]
    assert [record.id for record in provider.export_records(job=job, skip=4)] == everything[4:]
    assert list(provider.export_records(job=job, skip=len(everything))) == []


def test_an_export_still_running_reports_its_state(harness):
    provider = exporting(harness)
    harness.seed_leads(3)
    harness.hold_exports()
    job = provider.export_start(object=LEAD)
    status = provider.export_status(job=job)
    assert status.id == job.id
    assert status.state in (ExportState.QUEUED, ExportState.RUNNING)
    assert status.requested_at == job.requested_at
    assert len(list(provider.export_records(job=export_completed(harness, provider, status)))) == 3


def test_a_failed_or_expired_export_is_a_typed_error(harness):
    provider = exporting(harness)
    harness.seed_leads(3)
    harness.hold_exports()
    failing = provider.export_start(object=LEAD)
    harness.fail_export(failing.id)
    failed = provider.export_status(job=failing)
    assert (failed.state, bool(failed.error)) == (ExportState.FAILED, True)
    with pytest.raises(CrmError) as caught:
        list(provider.export_records(job=failed))
    assert caught.value.provider == harness.kind

    expiring = export_completed(harness, provider, provider.export_start(object=LEAD))
    harness.expire_export(expiring.id)
    with pytest.raises(CrmNotFound):
        provider.export_status(job=expiring)
    with pytest.raises(CrmNotFound):
        list(provider.export_records(job=expiring))


# --- change feed ----------------------------------------------------------------------------------------------
def test_change_feed_subscribe_renew_verify_and_unsubscribe(harness):
    provider = harness.provider()
    if not provider.supports(Capability.CHANGE_FEED):
        pytest.skip(f"{harness.kind} has no change feed")
    subscription = provider.subscribe(subscription=harness.new_subscription(objects=(LEAD,)))
    assert subscription.id in harness.live_subscriptions()
    assert subscription.expires_at is not None
    renewed = provider.renew(subscription=subscription)
    assert renewed.id == subscription.id
    (lead_id,) = harness.seed_leads(1)
    body = harness.notification_body(subscription, ids=[lead_id])
    (notification,) = provider.parse_notification(subscription=subscription, body=body, headers={})
    assert (notification.object, notification.operation, notification.ids) == (
        LEAD,
        ChangeOperation.UPDATED,
        (lead_id,),
    )
    forged = harness.notification_body(subscription, ids=[lead_id], secret="forged")
    with pytest.raises(CrmNotificationInvalid) as caught:
        provider.parse_notification(subscription=subscription, body=forged, headers={})
    assert caught.value.status in (401, 403)
    with pytest.raises(CrmNotificationInvalid):
        provider.parse_notification(subscription=subscription, body=b"not json", headers={})
    provider.unsubscribe(subscription=subscription)
    assert subscription.id not in harness.live_subscriptions()


# --- two-way sync: deletes, many-record writes, values written, the source tag ---------------------------------
def last_name(harness, record_id):
    return (harness.read_record(LEAD, record_id) or {}).get(harness.last_name_field)


def people_leads(harness, count):
    """`count` leads as people type them (seeded leads may be converted, which some CRMs refuse to update)."""
    return [harness.create_lead(last_name=f"Person {n}", phone=f"+1415555{150 + n:04d}") for n in range(count)]


def upserting(harness):
    provider = harness.provider()
    if not provider.supports(Capability.UPSERT_BY_EXTERNAL_ID):
        pytest.skip(f"{harness.kind} has no upsert by external id")
    assert harness.external_id_field, f"the {harness.kind} harness names no external id field"
    return provider


def test_a_record_is_deleted_once_and_a_second_delete_is_no_error(harness):
    kept, gone = people_leads(harness, 2)
    provider = harness.provider()
    before = harness.records_written()
    assert provider.delete_record(object=LEAD, record_id=gone) is True
    assert harness.records_written() == before + 1
    assert provider.delete_record(object=LEAD, record_id=gone) is False
    assert harness.records_written() == before + 1
    with pytest.raises(CrmNotFound):
        provider.record(object=LEAD, record_id=gone)
    assert harness.read_record(LEAD, gone) is None
    assert kept in harness.record_ids(LEAD)
    assert gone not in harness.record_ids(LEAD)


def test_upsert_many_creates_then_updates_the_same_records_without_duplicates(harness):
    provider = upserting(harness)
    assert provider.max_writes_per_call >= 3
    people_leads(harness, 1)
    before = len(harness.record_ids(LEAD))
    keys = [f"contract-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    rows = [{harness.external_id_field: key, harness.last_name_field: f"Upserted {n}"} for n, key in enumerate(keys)]
    written = harness.records_written()
    first = provider.upsert_many(object=LEAD, external_id_field=harness.external_id_field, rows=rows)
    assert [(result.ok, result.created) for result in first] == [(True, True)] * 3, first
    assert harness.records_written() == written + 3  # a batch of three counts three
    assert len(harness.record_ids(LEAD)) == before + 3
    assert len({result.record_id for result in first}) == 3

    again = [{**row, harness.last_name_field: f"Again {n}"} for n, row in enumerate(rows)]
    second = provider.upsert_many(object=LEAD, external_id_field=harness.external_id_field, rows=again)
    assert [(result.ok, result.created) for result in second] == [(True, False)] * 3, second
    assert [result.record_id for result in second] == [result.record_id for result in first]
    assert len(harness.record_ids(LEAD)) == before + 3  # no duplicates
    assert [last_name(harness, result.record_id) for result in second] == ["Again 0", "Again 1", "Again 2"]
    assert harness.records_written() == written + 6


def assert_refused_alone(harness, results, *, bad: int, message: str):
    refused = results[bad]
    assert not refused.ok
    assert isinstance(refused.error, CrmRejected), refused
    assert not isinstance(refused.error, CrmNotFound)
    assert message in refused.error.message, refused.error.message
    assert all(result.ok for n, result in enumerate(results) if n != bad), results


def test_upsert_many_a_refused_row_is_its_own_error_and_the_others_land(harness):
    provider = upserting(harness)
    message = "Contract: no phone through the API"
    harness.refuse_writes(LEAD, field=harness.phone_field, message=message)
    rows = [
        {harness.external_id_field: f"contract-{uuid.uuid4().hex[:12]}", harness.last_name_field: f"Row {n}"}
        for n in range(3)
    ]
    rows[1] = {**rows[1], harness.phone_field: "+14155550188"}
    before = len(harness.record_ids(LEAD))
    written = harness.records_written()
    results = provider.upsert_many(object=LEAD, external_id_field=harness.external_id_field, rows=rows)
    assert_refused_alone(harness, results, bad=1, message=message)
    assert harness.records_written() == written + 2  # the refused row counts none
    assert [last_name(harness, results[n].record_id) for n in (0, 2)] == ["Row 0", "Row 2"]
    assert len(harness.record_ids(LEAD)) == before + 2
    harness.allow_writes(LEAD)
    (retried,) = provider.upsert_many(object=LEAD, external_id_field=harness.external_id_field, rows=[rows[1]])
    assert (retried.ok, retried.created) == (True, True), retried


def test_update_many_lands_each_row_and_a_record_deleted_meanwhile_is_that_rows_error(harness):
    provider = harness.provider()
    ids = people_leads(harness, 4)
    harness.delete(ids[2])
    updates = [(record_id, {harness.last_name_field: f"Many {n}"}) for n, record_id in enumerate(ids)]
    written = harness.records_written()
    results = provider.update_many(object=LEAD, updates=updates)
    assert len(results) == 4
    gone = results[2]
    assert not gone.ok
    assert isinstance(gone.error, CrmRejected), gone  # CrmNotFound where the CRM says "no such record"
    assert all(results[n].ok and results[n].record_id == ids[n] for n in (0, 1, 3)), results
    assert [last_name(harness, ids[n]) for n in (0, 1, 3)] == ["Many 0", "Many 1", "Many 3"]
    assert harness.records_written() == written + 3  # three updated, the missing one counts none


def test_update_many_a_refused_row_is_its_own_error_and_the_others_land(harness):
    provider = harness.provider()
    ids = people_leads(harness, 3)
    message = "Contract: no phone through the API"
    harness.refuse_writes(LEAD, field=harness.phone_field, message=message)
    updates = [(record_id, {harness.last_name_field: f"Kept {n}"}) for n, record_id in enumerate(ids)]
    updates[0] = (ids[0], {harness.last_name_field: "Refused", harness.phone_field: "+14155550189"})
    written = harness.records_written()
    results = provider.update_many(object=LEAD, updates=updates)
    assert_refused_alone(harness, results, bad=0, message=message)
    assert last_name(harness, ids[0]) != "Refused"
    assert [last_name(harness, ids[n]) for n in (1, 2)] == ["Kept 1", "Kept 2"]
    assert harness.records_written() == written + 2


ROUND_TRIP_SAMPLES = {
    FieldType.TEXT: "Round trip 7",
    FieldType.EMAIL: "round.trip@example.com",
    FieldType.PHONE: "+14155550123",
    FieldType.NUMBER: 42,
    FieldType.DECIMAL: Decimal("12.5"),
    FieldType.CURRENCY: Decimal("1234.5"),
    FieldType.BOOLEAN: True,
    FieldType.DATE: date(2026, 3, 14),
    FieldType.DATETIME: datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC),
}


def round_trip_sample(spec):
    """A value of the field's type as Leadline writes it (VALUES WRITTEN in crm/provider.py); None: no sample."""
    if spec.type == FieldType.PICKLIST:
        choices = [choice for choice in spec.choices if choice and choice != "-None-"]
        return choices[-1] if choices else None
    if spec.type == FieldType.MULTI_PICKLIST:
        choices = [choice for choice in spec.choices if choice and choice != "-None-"]
        return choices[:2] or None
    return ROUND_TRIP_SAMPLES.get(spec.type)


def canonical(value, spec):
    """A value read or written, in terms two equal values share: E.164 phones, datetimes to the second in UTC,
    dates and datetimes whether typed or in ISO text (a record's fields hold JSON values), Decimal numbers,
    multi-picklists as sets."""
    if value in (None, "", []):
        return None
    if spec.type == FieldType.PHONE:
        return normalize_e164(str(value), default_region="US")
    if spec.type == FieldType.DATETIME:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(UTC).replace(microsecond=0)
    if spec.type == FieldType.DATE and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if spec.type in (FieldType.DECIMAL, FieldType.CURRENCY, FieldType.NUMBER) and not isinstance(value, bool):
        return Decimal(str(value))
    if spec.type == FieldType.MULTI_PICKLIST and isinstance(value, list | tuple):
        return frozenset(value)
    return value


def test_typed_values_written_read_back_as_given(harness):
    provider = harness.provider()
    (lead_id,) = people_leads(harness, 1)
    spec = provider.object_spec(object=LEAD)
    samples = {}
    for field in spec.fields:
        if field.read_only or field.type in (FieldType.LOOKUP, FieldType.USER):
            continue  # the CRM computes it, or it names another record
        sample = round_trip_sample(field)
        if sample is not None:
            samples[field] = sample
    assert {field.type for field in samples} >= {FieldType.TEXT, FieldType.PHONE, FieldType.BOOLEAN}, samples
    provider.update_fields(
        object=LEAD, record_id=lead_id, values={field.name: value for field, value in samples.items()}
    )
    record = provider.record(object=LEAD, record_id=lead_id)
    wrong = {
        field.name: (value, record.get(field.key))
        for field, value in samples.items()
        if canonical(record.get(field.key), field) != canonical(value, field)
    }
    assert wrong == {}, f"written -> read back: {wrong}"


def test_changed_by_us_knows_our_write_from_a_persons_edit_or_says_nothing(harness):
    provider = harness.provider()
    (lead_id,) = people_leads(harness, 1)
    provider.update_fields(object=LEAD, record_id=lead_id, values={harness.last_name_field: "Ours"})
    ours = provider.changed_by_us(record=provider.record(object=LEAD, record_id=lead_id))
    assert ours in (None, True)
    harness.edit_record(LEAD, lead_id, {harness.last_name_field: "Theirs"})
    theirs = provider.changed_by_us(record=provider.record(object=LEAD, record_id=lead_id))
    assert theirs in (None, False)
    assert (ours is None) == (theirs is None)  # a CRM that tags its records says so for both
