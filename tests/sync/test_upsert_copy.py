"""The batch upsert writes its rows as COPY text it builds itself and passes phone pairs as text[] literals: values
holding COPY's and arrays' special characters come back exactly as mapped, and the content hash stays what
record_serialized says (the one an unchanged record is recognised by)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django.db import connection, transaction

from crm.records import CanonicalRecord
from sync.content import MirrorKey, content_serialized, record_serialized
from sync.models import CrmPhone, CrmRecord, SyncRun
from sync.upsert import crm_records_upsert
from tests.factories import OrganizationFactory, ZohoCrmAccountFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
AWKWARD = 'tab\there, line\nbreak, cr\rreturn, back\\slash \\N, "quoted", {braces}, comma, é ü 名前 \u2028 \\.'


@pytest.fixture
def run():
    organization = OrganizationFactory(slug="copy-text")
    account = ZohoCrmAccountFactory(organization=organization)
    return SyncRun.objects.unscoped().create(
        organization=organization, connection=account, object="lead", started_at=T0
    )


def key_of(run: SyncRun) -> MirrorKey:
    return MirrorKey(run.organization_id, run.connection_id, run.object)


def awkward(external_id: str, *, modified: datetime = T0, phones: dict[str, str] | None = None) -> CanonicalRecord:
    return CanonicalRecord(
        object="lead",
        id=external_id,
        modified_time=modified,
        name=AWKWARD,
        email="back\\slash@example.com",
        owner_id="4150868000000225001",
        owner_name='Ölaf\t"Owner"',
        created_time=None,
        fields={"last_name": AWKWARD, "tags": ["a\\b", 'c"d', "e\nf"], "score": 1.5, "empty": None, "ok": True},
        custom_fields={"Note\\Field": AWKWARD, "Nested": {"x": [1, {"y": "\\"}]}},
        phones=phones if phones is not None else {'Phone "main"': "+14155550100", "Mobile\\2": "+14155550101"},
    )


def upsert(run: SyncRun, records: list[CanonicalRecord]):
    with transaction.atomic():
        return crm_records_upsert(key=key_of(run), records=records, run_id=run.pk, now=T0)


def test_awkward_values_are_stored_as_mapped_and_not_rewritten_when_read_again(run):
    ids = ['id with "quotes"', "id\\with\\backslashes", "id,with,commas", "plain"]
    result = upsert(run, [awkward(external_id) for external_id in ids])
    assert (result.inserted, result.updated, result.inserted_ids) == (4, 0, set(ids))
    for external_id in ids:
        record = awkward(external_id)
        row = CrmRecord.objects.unscoped().get(organization_id=run.organization_id, external_id=external_id)
        assert (row.name, row.email, row.owner_name) == (record.name, record.email, record.owner_name)
        assert row.created_time is None
        assert row.modified_time == T0
        assert row.fields == record.fields
        assert row.custom_fields == record.custom_fields
        assert row.content_hash == record_serialized(record)[0]
    phones = {(phone.external_id, phone.field): phone.e164 for phone in CrmPhone.objects.unscoped().all()}
    assert phones == {
        (external_id, field): e164 for external_id in ids for field, e164 in awkward(external_id).phones.items()
    }

    again = upsert(run, [awkward(external_id) for external_id in ids])  # the same content: nothing rewritten
    assert (again.inserted, again.updated) == (0, 0)

    later = T0 + timedelta(minutes=1)
    moved = upsert(run, [awkward(ids[0], modified=later, phones={"Mobile\\2": "+14155550199"})])
    assert (moved.inserted, moved.updated) == (0, 1)
    assert {(phone.field, phone.e164) for phone in CrmPhone.objects.unscoped().filter(external_id=ids[0])} == {
        ("Mobile\\2", "+14155550199")
    }


def test_the_hash_is_the_documented_md5_of_the_json_list():
    """The text hashed is json.dumps([name, email, owner_id, owner_name, fields, custom_fields], sort_keys=True):
    hashes stored before keep matching, so an unchanged record read again is still recognised."""
    import hashlib
    import json

    record = awkward("plain")
    values = [record.name, record.email, record.owner_id, record.owner_name, record.fields, record.custom_fields]
    text = json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))
    expected = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    assert record_serialized(record)[0] == expected
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    digest, fields_json, _ = content_serialized(
        name="", email="", owner_id="", owner_name="", fields={"when": moment}, custom_fields={}
    )
    assert fields_json == json.dumps({"when": moment}, default=str, separators=(",", ":"))
    listed = json.dumps(["", "", "", "", {"when": moment}, {}], default=str, separators=(",", ":"))
    assert digest == hashlib.md5(listed.encode(), usedforsecurity=False).hexdigest()


def test_the_batch_table_compresses_its_json_with_lz4_where_the_server_has_it(run):
    if connection.vendor != "postgresql":
        pytest.skip("TOAST compression is PostgreSQL's")
    big = {f"field_{number}": f"value {number} " * 5 for number in range(120)}  # past TOAST's threshold
    record = CanonicalRecord(object="lead", id="big", modified_time=T0, fields=big)
    upsert(run, [record])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        lz4 = cursor.fetchone()[0]
        cursor.execute("SELECT pg_column_compression(fields) FROM sync_crmrecord WHERE external_id = 'big'")
        assert cursor.fetchone()[0] == ("lz4" if lz4 else "pglz")
    assert CrmRecord.objects.unscoped().get(external_id="big").fields == big
