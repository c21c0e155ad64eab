"""sync 0008 on a database holding 0007's data: every mirror row is kept, keyed by (organization, connection,
object, external id); module names become canonical object names, the connection is the organization's default
(else oldest) Zoho CRM account, and an organization without one keeps its rows with no connection. And back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.secrets import Secret
from tests.factories import OrganizationFactory, ZohoCrmAccountFactory
from tests.migrations import migrations  # noqa: F401  (the fixture)

BEFORE = ("sync", "0007_drop_unused_gin_indexes")
AFTER = ("sync", "0008_generic_keys")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _mirror(old, organization, *, lead_id: str) -> None:
    """One organization's old rows: a run, states, records of a canonical and a custom module, a phone, a quarantined
    value, a schedule, a Bulk Read job and a notification channel."""
    model = old.get_model
    run = model("sync", "SyncRun")._default_manager.create(
        organization_id=organization.pk, module="Leads", started_at=T0
    )
    for module in ("Leads", "Contacts"):
        model("sync", "SyncState")._default_manager.create(organization_id=organization.pk, module=module, watermark=T0)
    records = model("sync", "CrmRecord")._default_manager
    common = {"organization_id": organization.pk, "modified_time": T0, "synced_at": T0, "run": run}
    records.create(module="Leads", zoho_id=lead_id, name="Lena Lead", content_hash="a", fields={"x": 1}, **common)
    records.create(module="Vendors", zoho_id="77", name="Vendor", content_hash="b", **common)
    model("sync", "CrmPhone")._default_manager.create(
        organization_id=organization.pk, module="Leads", zoho_id=lead_id, field="Mobile", e164="+14155550100"
    )
    model("sync", "CrmQuarantine")._default_manager.create(
        organization_id=organization.pk, module="Leads", zoho_id=lead_id, field="Rating", value="x", reason="r", run=run
    )
    model("sync", "SyncSchedule")._default_manager.create(
        organization_id=organization.pk, module="Deals", interval_minutes=30
    )
    model("sync", "BulkReadJob")._default_manager.create(
        organization_id=organization.pk,
        module="Leads",
        run=run,
        zoho_job_id="5725767000001",
        zoho_state="COMPLETED",
        next_page_token="token-2",
        more_records=True,
        rows_loaded=200,
        requested_at=T0,
    )
    model("sync", "NotificationChannel")._default_manager.create(
        organization_id=organization.pk,
        channel_id=organization.pk + 10**12,
        token=Secret("token"),
        url_secret=Secret(f"url-{organization.pk}"),
        url_secret_digest=f"digest-{organization.pk}",
        events=["Leads.all", "Contacts.all"],
    )


@pytest.mark.django_db(transaction=True)
def test_every_mirror_row_is_kept_under_its_connection_and_canonical_object(migrations):  # noqa: F811
    # Organizations and accounts with today's models (their tables are at the latest migrations throughout).
    with_default = OrganizationFactory(slug="with-default")
    ZohoCrmAccountFactory(organization=with_default, name="older", is_default=False)
    default = ZohoCrmAccountFactory(organization=with_default, name="main", is_default=True)
    only_one = OrganizationFactory(slug="only-one")
    oldest = ZohoCrmAccountFactory(organization=only_one, name="first", is_default=False)
    ZohoCrmAccountFactory(organization=only_one, name="second", is_default=False)
    without = OrganizationFactory(slug="no-crm")
    lead_ids = {with_default.pk: "1001", only_one.pk: "2001", without.pk: "3001"}
    old = migrations.to(BEFORE)
    for organization in (with_default, only_one, without):
        _mirror(old, organization, lead_id=lead_ids[organization.pk])

    new = migrations.to(AFTER)
    model = new.get_model
    expected = {with_default.pk: default.pk, only_one.pk: oldest.pk, without.pk: None}
    records = model("sync", "CrmRecord")._default_manager
    assert sorted(records.values_list("organization_id", "connection_id", "object", "external_id", "name")) == sorted(
        [
            (organization, connection, object_, external_id, name)
            for organization, connection in expected.items()
            for object_, external_id, name in (
                ("lead", lead_ids[organization], "Lena Lead"),
                ("Vendors", "77", "Vendor"),
            )
        ]
    )
    assert records.get(external_id="1001").fields == {"x": 1}
    for name, count in (("SyncRun", 3), ("SyncState", 6), ("CrmPhone", 3), ("CrmQuarantine", 3), ("SyncSchedule", 3)):
        rows = model("sync", name)._default_manager
        assert rows.count() == count, name
        assert {(row.organization_id, row.connection_id) for row in rows.all()} == set(expected.items()), name
    assert set(model("sync", "SyncState")._default_manager.values_list("object", flat=True)) == {"lead", "contact"}
    assert set(model("sync", "SyncSchedule")._default_manager.values_list("object", flat=True)) == {"deal"}
    phone = model("sync", "CrmPhone")._default_manager.get(organization_id=with_default.pk)
    assert (phone.object, phone.external_id, phone.field, phone.e164) == ("lead", "1001", "Mobile", "+14155550100")
    job = model("sync", "ExportJob")._default_manager.get(organization_id=with_default.pk)
    assert (job.connection_id, job.object, job.job_id, job.vendor_state, job.continuation, job.rows_loaded) == (
        default.pk,
        "lead",
        "5725767000001",
        "COMPLETED",
        "token-2",
        200,
    )
    channels = {row.organization_id: row for row in model("sync", "NotificationChannel")._default_manager.all()}
    assert channels[with_default.pk].objects_watched == ["contact", "lead"]
    assert {key: row.connection_id for key, row in channels.items()} == expected

    back = migrations.to(BEFORE)
    legacy = back.get_model("sync", "CrmRecord")._default_manager
    assert sorted(legacy.values_list("module", "zoho_id")) == sorted(
        [
            ("Leads", "1001"),
            ("Leads", "2001"),
            ("Leads", "3001"),
            ("Vendors", "77"),
            ("Vendors", "77"),
            ("Vendors", "77"),
        ]
    )
    assert back.get_model("sync", "BulkReadJob")._default_manager.get(
        organization_id=with_default.pk
    ).next_page_token == ("token-2")
    assert sorted(
        back.get_model("sync", "NotificationChannel")._default_manager.get(organization_id=only_one.pk).events
    ) == [
        "Contacts.all",
        "Leads.all",
    ]


@pytest.mark.django_db(transaction=True)
def test_the_per_object_views_do_not_block_the_upgrade_and_are_built_again_later(migrations):  # noqa: F811
    """PostgreSQL refuses to retype a column a view reads: with 0007's `mirror_leads` in place (as every
    mirrored database has), 0008 still applies; it drops the views, which the next run or `sync views` rebuilds."""
    from django.db import connection

    migrations.to(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW mirror_leads AS SELECT zoho_id, module, name FROM sync_crmrecord")
        cursor.execute("CREATE VIEW mirror_phones AS SELECT zoho_id, e164 FROM sync_crmphone")
    migrations.to(AFTER)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.views WHERE table_name LIKE 'mirror_%%'")
        assert cursor.fetchone()[0] == 0
        cursor.execute("CREATE VIEW mirror_leads AS SELECT external_id, object, name FROM sync_crmrecord")
    migrations.to(BEFORE)  # and back, past a view of the new columns
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.views WHERE table_name LIKE 'mirror_%%'")
        assert cursor.fetchone()[0] == 0
