"""Pagination to Zoho's real limits: every record exactly once across COQL's 100,000 reach and Get Records' 50
fields per call."""

from datetime import UTC, datetime

import pytest

from crm.providers.zoho.client import ZohoClient
from tests.crm.zoho.conftest import control


def seed(server, count, module="Leads"):
    return control(server, "POST", "zoho/seed", {"module": module, "count": count, "seed": 11})


def all_ids(server, module="Leads"):
    org = next(iter(server.state.crm.orgs.values()))
    return set(org.modules[module].records)


def coql_calls(server):
    return server.state.counters["zoho_crm.coql.coql_query"]


def test_coql_pages_5000_records_each_exactly_once(empty_account, empty_sandbox):
    seed(empty_sandbox, 5_300)
    records = list(ZohoClient(account=empty_account).coql_iter(module="Leads", fields=["Last_Name", "Mobile"]))
    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) == 5_300
    assert set(ids) == all_ids(empty_sandbox)
    assert coql_calls(empty_sandbox) == 3
    keys = [(datetime.fromisoformat(record["Modified_Time"]), int(record["id"])) for record in records]
    assert keys == sorted(keys)


def test_coql_with_a_condition_and_a_small_reach_switches_to_keyset(empty_account, empty_sandbox):
    seed(empty_sandbox, 3_000)
    client = ZohoClient(account=empty_account)
    expected = {
        r["id"] for r in client.coql_iter(module="Leads", fields=["Lead_Source"]) if r["Lead_Source"] == "Walk-in"
    }
    ids = [
        record["id"]
        for record in client.coql_iter(
            module="Leads", fields=["Lead_Source"], where="Lead_Source = 'Walk-in'", page_size=200, max_reach=1_000
        )
    ]
    assert len(ids) == len(set(ids)) == len(expected) > 200
    assert set(ids) == expected


def test_coql_keyset_survives_thousands_of_records_with_one_modified_time(empty_account, empty_sandbox):
    org = next(iter(empty_sandbox.state.crm.orgs.values()))
    owner = org.admin
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for index in range(2_500):
        org.modules["Leads"].insert({"Last_Name": f"Same {index}"}, by_user=owner, notify=False, at=moment)
    client = ZohoClient(account=empty_account)
    ids = [r["id"] for r in client.coql_iter(module="Leads", fields=["Last_Name"], page_size=500, max_reach=1_000)]
    assert len(ids) == len(set(ids)) == 2_500


@pytest.mark.slow
def test_coql_pages_120000_records_past_the_offset_limit_each_exactly_once(empty_account, empty_sandbox):
    seed(empty_sandbox, 120_500)
    ids = [record["id"] for record in ZohoClient(account=empty_account).coql_iter(module="Leads", fields=["Last_Name"])]
    assert len(ids) == 120_500
    assert len(set(ids)) == 120_500
    assert set(ids) == all_ids(empty_sandbox)
    assert coql_calls(empty_sandbox) == 61  # 50 offset pages to 100,000, then 11 keyset pages


def test_get_records_with_more_than_50_fields_merges_batches_by_id(empty_account, empty_sandbox):
    seed(empty_sandbox, 2_600)
    client = ZohoClient(account=empty_account)
    fields = [field["api_name"] for field in client.fields_get(module="Leads")]
    assert len(fields) > 50
    records = client.records_list(module="Leads", fields=fields, params={"converted": "both"})
    assert len(records) == len({record["id"] for record in records}) == 2_600
    assert {record["id"] for record in records} == all_ids(empty_sandbox)
    assert all(set(fields) <= set(record) for record in records)
    org = next(iter(empty_sandbox.state.crm.orgs.values()))
    sample = records[1234]
    stored = org.modules["Leads"].records[sample["id"]]
    assert sample["Last_Name"] == stored["Last_Name"]
    assert sample["Modified_Time"] == stored["Modified_Time"]  # from the second batch
    # two batches (50 + 15 fields), each 13 pages of 200: the first by `page`, the rest by `page_token`
    assert empty_sandbox.state.counters["zoho_crm.records_read.get_records"] == 26
