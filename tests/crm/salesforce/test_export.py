"""Bulk API 2.0 exports of the wide Lead: results read page by page (Sforce-Locator), typed by describe so an
exported record equals the one a query reads, a resume skipping across pages."""

from __future__ import annotations

from crm.providers.salesforce import export
from crm.records import ExportState
from tests.crm.harness_salesforce import control

LEAD = "lead"


def test_an_export_reads_every_page_and_equals_the_records_read_by_query(sf, provider, monkeypatch):
    monkeypatch.setattr(export, "RESULT_PAGE_RECORDS", 7)  # several result pages
    ids = sf.seed("Lead", 30)
    job = provider.export_start(object=LEAD)
    control(sf.server, "POST", f"salesforce/bulk/{job.id}/finish", {})
    job = provider.export_status(job=job)
    assert job.state == ExportState.COMPLETED
    exported = list(provider.export_records(job=job))
    assert sorted(record.id for record in exported) == sorted(ids)
    read = {record.id: record for record in provider.records(object=LEAD, record_ids=ids)}
    for record in exported:
        same = read[record.id]
        assert (
            record.name,
            record.email,
            record.owner_id,
            record.owner_name,
            record.modified_time,
            record.created_time,
        ) == (
            same.name,
            same.email,
            same.owner_id,
            same.owner_name,
            same.modified_time,
            same.created_time,
        )
        assert record.fields == same.fields, record.id
        assert record.custom_fields == same.custom_fields, record.id
        assert dict(record.phones) == dict(same.phones)
    resumed = [record.id for record in provider.export_records(job=job, skip=10)]
    assert resumed == [record.id for record in exported][10:]
