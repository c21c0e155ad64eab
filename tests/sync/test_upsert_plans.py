"""The batch upsert's statements find stored rows by the whole key, whatever the table's statistics say.

A cold load of 100,000 leads stalled for minutes (bench/sync_mirror.py) because, with no statistics, the planner
estimated the new organization's rows as one and probed the stored records through an index that narrowed only to
(organization, module): every stored record was read per batch row. These tests load rows into tables whose
statistics are wiped, as on a first load, and check the plans and the schema that keeps them right. Plans, not
timings: the benchmark measures the speed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django.db import connection, transaction

from crm.records import CanonicalRecord
from sync.content import MirrorKey
from sync.models import CrmPhone, CrmRecord, SyncRun
from sync.selectors import _VERSIONS_SQL, crm_record_versions
from sync.upsert import BATCH_TABLE_SQL, PHONES_GONE_SQL, PHONES_HELD_SQL, UPSERT_SQL, crm_records_upsert
from tests.factories import OrganizationFactory, ZohoCrmAccountFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STORED = 3_000


def lead(number: int, *, modified: datetime = T0, phones: dict[str, str] | None = None) -> CanonicalRecord:
    return CanonicalRecord(
        object="lead",
        id=f"41508680000{number:07d}",
        modified_time=modified,
        name=f"Lead {number}",
        fields={"last_name": f"Lead {number}"},
        phones=phones if phones is not None else {"Phone": f"+1415555{number % 10_000:04d}"},
    )


@pytest.fixture
def loaded():
    """An organization with STORED leads and their phones written by the upsert, then the statistics wiped."""
    if connection.vendor != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    organization = OrganizationFactory(slug="plans")
    connection_ = ZohoCrmAccountFactory(organization=organization)
    run = SyncRun.objects.unscoped().create(
        organization=organization, connection=connection_, object="lead", started_at=T0
    )
    with transaction.atomic():
        crm_records_upsert(
            key=key_of(run),
            records=[lead(number) for number in range(STORED)],
            run_id=run.pk,
            now=T0,
        )
    with connection.cursor() as cursor:
        for table in (CrmRecord._meta.db_table, CrmPhone._meta.db_table):
            cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table])
            cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass", [table])
    return organization, run


def key_of(run: SyncRun) -> MirrorKey:
    return MirrorKey(run.organization_id, run.connection_id, run.object)


def plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def ids(count: int) -> list[str]:
    return [lead(number).id for number in range(count)]


def test_only_the_unique_indexes_start_with_the_organization():
    """Another organization-led index ties with the unique one when statistics are missing (see the module doc)."""
    if connection.vendor != "postgresql":
        pytest.skip("index definitions are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE tablename IN (%s, %s) "
            "AND indexdef LIKE '%%(organization_id%%'",
            [CrmRecord._meta.db_table, CrmPhone._meta.db_table],
        )
        assert sorted(cursor.fetchall()) == [
            (CrmPhone._meta.db_table, "crm_phone_unique"),
            (CrmRecord._meta.db_table, "crm_record_unique"),
        ]


def test_the_upsert_reads_stored_rows_only_through_its_conflict_arbiter(loaded):
    _, run = loaded
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(BATCH_TABLE_SQL)
        text = plan(UPSERT_SQL, {**key_of(run).values(), "now": T0, "run_id": run.pk})
    assert "Conflict Arbiter Indexes: crm_record_unique" in text
    assert "on sync_crmrecord" not in text.replace("Insert on sync_crmrecord", "")  # no scan, no join


@pytest.mark.parametrize(
    ("sql", "params", "key"),
    [
        (_VERSIONS_SQL, "versions", "(external_id)::text = batch.external_id"),
        (PHONES_HELD_SQL, "held", "(external_id)::text = batch.external_id"),
        (PHONES_GONE_SQL, "gone", "(field)::text = batch.field"),
    ],
)
def test_batch_reads_probe_the_unique_index_by_the_whole_key(loaded, sql, params, key):
    _, run = loaded
    batch = ids(1_000)
    scope = [run.organization_id, run.connection_id, "lead"]
    values = {
        "versions": [batch, *scope],
        "held": [batch, *scope],
        "gone": [batch, ["Phone"] * len(batch), *scope],
    }[params]
    text = plan(sql, values)
    index_lines = [line for line in text.splitlines() if "Index Cond" in line and "organization_id" in line]
    assert index_lines, text
    assert all(key in line for line in index_lines), text
    filters = [line for line in text.splitlines() if "Filter" in line]
    assert not [line for line in filters if "external_id" in line or "organization_id" in line], text
    assert "Hash" not in text, text


def test_phones_follow_the_record_gone_changed_and_kept(loaded):
    organization, run = loaded
    changed = lead(1, modified=T0 + timedelta(minutes=1), phones={"Phone": "+14155550111", "Mobile": "+14155550112"})
    cleared = lead(2, modified=T0 + timedelta(minutes=1), phones={})
    kept = lead(3, modified=T0 + timedelta(minutes=1))
    fresh = lead(STORED + 1)
    with transaction.atomic():
        result = crm_records_upsert(
            key=key_of(run),
            records=[changed, cleared, kept, fresh, lead(4)],  # lead(4) is stored unchanged
            run_id=run.pk,
            now=T0,
        )
    assert (result.inserted, result.updated) == (1, 3)
    phones = {
        (phone.external_id, phone.field): phone.e164
        for phone in CrmPhone.objects.for_organization(organization).filter(
            external_id__in=[record.id for record in (changed, cleared, kept, fresh, lead(4))]
        )
    }
    assert phones == {
        (changed.id, "Phone"): "+14155550111",
        (changed.id, "Mobile"): "+14155550112",
        (kept.id, "Phone"): lead(3).phones["Phone"],
        (fresh.id, "Phone"): fresh.phones["Phone"],
        (lead(4).id, "Phone"): lead(4).phones["Phone"],
    }
    versions = crm_record_versions(key=key_of(run), external_ids=[changed.id, "nope"])
    assert list(versions) == [changed.id]
    assert versions[changed.id].modified_time == changed.modified_time
