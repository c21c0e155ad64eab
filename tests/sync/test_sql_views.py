"""Per-object SQL views (PostgreSQL): typed columns after a sync, custom fields in JSON, columns that only grow, a
changed type, hostile names, the command."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from io import StringIO

import pytest

from django.core.management import call_command
from django.db import connection

from crm.records import FieldSpec, FieldType, ObjectSpec
from sync.delta import sync_run
from sync.models import CrmRecord, SyncRun
from sync.sql_views import ViewColumn, _comment_statement, _execute, mirror_view_refresh, view_columns, view_name
from tests.crm.zoho.conftest import control
from tests.sync.conftest import seed, store

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the views are PostgreSQL only")


def column_types(view: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            [view],
        )
        return {
            name: f"{kind}({precision},{scale})" if kind == "numeric" and precision else kind
            for name, kind, precision, scale in cursor.fetchall()
        }


def rows(query: str, params: list | None = None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def synced(organization, object="lead") -> SyncRun:
    run = sync_run(organization=organization, object=object)
    assert run.status == SyncRun.Status.OK, run.error
    return run


def test_the_view_exists_after_a_sync_with_typed_columns_and_the_synced_values(organization, account, empty_sandbox):
    seed(empty_sandbox, 60)
    synced(organization)
    types = column_types("mirror_leads")
    assert list(types)[:14] == [
        "organization_id",
        "connection_id",
        "object",
        "external_id",
        "name",
        "email",
        "owner_id",
        "owner_name",
        "created_time",
        "modified_time",
        "custom_fields",
        "deleted_at",
        "synced_at",
        "run_id",
    ]
    assert types["annual_revenue"] == "numeric(14,2)"
    assert types["no_of_employees"] == "bigint"
    assert types["average_time_spent_minutes"] == "numeric"
    assert types["converted_s"] == "boolean"
    assert types["last_activity_time"] == "timestamp with time zone"
    assert types["lead_source"] == "text"
    assert types["tag"] == "ARRAY"
    assert types["created_by_id"] == types["created_by_name"] == "text"
    assert types["currency_code"] == "text"
    assert types["custom_fields"] == "jsonb"
    assert not {"studio", "Studio"} & set(types)  # custom fields stay in custom_fields

    by_id = {
        row["external_id"]: row
        for row in rows("SELECT * FROM mirror_leads WHERE organization_id = %s", [organization.pk])
    }
    expected = store(empty_sandbox)
    assert set(by_id) == set(expected)
    for zoho_id, record in expected.items():
        row = by_id[zoho_id]
        revenue = record.get("Annual_Revenue")
        assert row["annual_revenue"] == (None if revenue is None else Decimal(str(revenue)).quantize(Decimal("0.01")))
        assert row["no_of_employees"] == record.get("No_of_Employees")
        assert row["converted_s"] is bool(record.get("Converted__s"))
        assert row["lead_source"] == record.get("Lead_Source")
        assert row["created_by_id"] == record["Created_By"]["id"]
        assert json.loads(row["custom_fields"])["Studio"] == record.get("Studio")  # Django reads jsonb as text
        if record.get("Last_Activity_Time"):
            assert row["last_activity_time"] == datetime.fromisoformat(record["Last_Activity_Time"])
    assert synced(organization).status == SyncRun.Status.OK
    mapping_columns = column_types("mirror_leads")
    assert mapping_columns == types  # a second run with the same fields leaves the view alone


def test_deals_have_dates_currency_and_lookups(organization, account, empty_sandbox):
    seed(empty_sandbox, 5, module="Accounts")
    seed(empty_sandbox, 20, module="Deals")
    deal_id = sorted(store(empty_sandbox, "Deals"))[0]
    account_id = sorted(store(empty_sandbox, "Accounts"))[0]
    control(empty_sandbox, "PATCH", f"zoho/Deals/{deal_id}", {"Account_Name": {"id": account_id}})
    synced(organization, "deal")
    types = column_types("mirror_deals")
    assert (types["closing_date"], types["amount"], types["account_name_id"]) == ("date", "numeric(14,2)", "text")
    (row,) = rows(
        "SELECT closing_date, amount, account_name_id, account_name_name FROM mirror_deals WHERE external_id = %s",
        [deal_id],
    )
    record = store(empty_sandbox, "Deals")[deal_id]
    assert row["closing_date"] == (date.fromisoformat(record["Closing_Date"]) if record.get("Closing_Date") else None)
    assert row["account_name_id"] == account_id
    assert row["account_name_name"] == store(empty_sandbox, "Accounts")[account_id]["Account_Name"]


def test_a_new_custom_field_lands_in_custom_fields_and_the_view_keeps_working(organization, account, empty_sandbox):
    seed(empty_sandbox, 10)
    synced(organization)
    before = column_types("mirror_leads")
    org = next(iter(empty_sandbox.state.crm.orgs.values()))
    template = next(meta for meta in org.fields["Leads"] if meta["api_name"] == "Referred_By")
    org.fields["Leads"].append({**template, "api_name": "Belt_Color", "id": template["id"] + "9"})
    zoho_id = sorted(store(empty_sandbox))[0]
    control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Belt_Color": " Black "})
    synced(organization)
    assert column_types("mirror_leads") == before
    (row,) = rows("SELECT custom_fields ->> 'Belt_Color' AS belt FROM mirror_leads WHERE external_id = %s", [zoho_id])
    assert row["belt"] == "Black"


def test_a_new_standard_field_is_appended_and_a_removed_one_stays(organization, account, empty_sandbox):
    seed(empty_sandbox, 10)
    synced(organization)
    org = next(iter(empty_sandbox.state.crm.orgs.values()))
    template = next(meta for meta in org.fields["Leads"] if meta["api_name"] == "No_of_Employees")
    org.fields["Leads"].append({**template, "api_name": "Belt_Rank", "custom_field": False, "id": template["id"] + "7"})
    org.fields["Leads"][:] = [meta for meta in org.fields["Leads"] if meta["api_name"] != "Website"]
    zoho_id = sorted(store(empty_sandbox))[0]
    control(empty_sandbox, "PATCH", f"zoho/Leads/{zoho_id}", {"Belt_Rank": 3})
    synced(organization)
    types = column_types("mirror_leads")
    assert list(types)[-1] == "belt_rank"
    assert types["belt_rank"] == "bigint"
    assert "website" in types  # another organization's Zoho may still have it: the view's columns only grow
    (row,) = rows("SELECT belt_rank FROM mirror_leads WHERE external_id = %s", [zoho_id])
    assert row["belt_rank"] == 3


def spec_of(vendor_name: str, *fields: FieldSpec) -> ObjectSpec:
    return ObjectSpec(name="lead" if vendor_name == "Leads" else vendor_name, vendor_name=vendor_name, fields=fields)


def belt(kind: FieldType = FieldType.TEXT) -> FieldSpec:
    return FieldSpec("Belt", kind, key="belt")


def test_a_changed_column_type_recreates_the_view_and_old_values_read_as_null(organization, account, empty_sandbox):
    seed(empty_sandbox, 5)
    synced(organization)
    zoho_id = sorted(store(empty_sandbox))[0]
    CrmRecord.objects.for_organization(organization).filter(external_id=zoho_id).update(
        fields={"belt": "black", "rank": "7"}
    )
    assert mirror_view_refresh(spec=spec_of("Leads", belt())) == "replaced"
    assert mirror_view_refresh(spec=spec_of("Leads", belt())) == "unchanged"
    assert mirror_view_refresh(spec=spec_of("Leads", belt(FieldType.NUMBER))) == "recreated"
    assert column_types("mirror_leads")["belt"] == "bigint"
    (row,) = rows("SELECT belt FROM mirror_leads WHERE external_id = %s", [zoho_id])
    assert row["belt"] is None  # "black" is no bigint: NULL, and the view still answers


def test_hostile_names_are_quoted_never_run(organization, account, empty_sandbox):
    seed(empty_sandbox, 3)
    synced(organization)
    hostile_module = "Leads'; DROP TABLE sync_crmrecord; --"
    hostile = FieldSpec('Evil"); DROP TABLE sync_crmrecord; --', FieldType.TEXT)
    assert mirror_view_refresh(spec=spec_of(hostile_module, hostile)) == "created"
    name = view_name(hostile_module)
    assert name == "mirror_leads_drop_table_sync_crmrecord"
    assert rows(f'SELECT count(*) AS n FROM "{name}"') == [{"n": 0}]  # noqa: S608  # the object is a literal: no row
    # A column definition read back from the COMMENT (which anyone with DDL rights could write) is quoted too.
    evil = ViewColumn('x" text); DROP TABLE sync_crmrecord; --', "text", "k'); DROP TABLE sync_crmrecord; --")
    _execute(_comment_statement("mirror_leads", [*view_columns(spec_of("Leads")), evil]))
    assert mirror_view_refresh(spec=spec_of("Leads", belt())) == "recreated"
    assert evil.name in column_types("mirror_leads")
    assert table_exists("sync_crmrecord")
    assert CrmRecord.objects.for_organization(organization).count() == 3
    # A type that is not one of ours is dropped from the definitions, never spliced into SQL.
    bad_type = ViewColumn("odd", "text); DROP TABLE sync_crmrecord; --", "odd")
    _execute(_comment_statement("mirror_leads", [bad_type]))
    assert mirror_view_refresh(spec=spec_of("Leads", belt())) == "recreated"
    assert "odd" not in column_types("mirror_leads")
    assert table_exists("sync_crmrecord")


def test_a_view_that_cannot_be_refreshed_leaves_the_run_ok(organization, account, empty_sandbox):
    seed(empty_sandbox, 5)
    synced(organization)
    with connection.cursor() as cursor:  # an operator's view on ours: DROP VIEW is refused
        cursor.execute("CREATE VIEW my_report AS SELECT external_id, no_of_employees FROM mirror_leads")
    org = next(iter(empty_sandbox.state.crm.orgs.values()))
    meta = next(meta for meta in org.fields["Leads"] if meta["api_name"] == "No_of_Employees")
    meta["data_type"], meta["json_type"] = "text", "string"
    run = synced(organization)
    assert run.status == SyncRun.Status.OK
    assert column_types("mirror_leads")["no_of_employees"] == "bigint"  # unchanged until the operator's view goes


def test_the_views_command(organization, account, empty_sandbox):
    out = StringIO()
    call_command("sync", "views", "--org", organization.slug, "--object", "contact", stdout=out)
    assert f"{organization.slug} contact: created" in out.getvalue()
    assert "full_name" in column_types("mirror_contacts")
    out = StringIO()
    call_command("sync", "views", "--org", organization.slug, "--module", "Contacts", stdout=out)  # the former flag
    assert f"{organization.slug} contact: unchanged" in out.getvalue()


def test_not_on_sqlite(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert mirror_view_refresh(spec=spec_of("Leads")) == "skipped"
