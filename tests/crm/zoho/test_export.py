"""Zoho's Bulk Read as the provider's bulk export, against the sandbox over real HTTP: typed values as a read by id
gives them, jobs past Zoho's cap, a download retried into the same file, and what is refused."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from crm.errors import CrmNotFound, CrmRejected
from crm.providers.zoho import export
from crm.providers.zoho.errors import ZohoRequestError
from crm.providers.zoho.mapping import module_mapping_build
from crm.providers.zoho.provider import ZohoCrmProvider
from crm.records import Capability, Cursor, ExportJob, ExportState
from crm.registry import provider_for
from tests.crm.harness import SleepRecorder
from tests.crm.zoho.conftest import control


@pytest.fixture
def provider(empty_account) -> ZohoCrmProvider:
    return provider_for(empty_account, sleep=SleepRecorder())


def seed(server, module: str, count: int) -> None:
    control(server, "POST", "zoho/seed", {"module": module, "count": count, "seed": 11})


def completed(server, provider, job: ExportJob) -> ExportJob:
    control(server, "POST", f"zoho/bulk/{job.id}/complete", {})
    job = provider.export_status(job=job)
    assert job.state == ExportState.COMPLETED
    return job


def test_zoho_declares_bulk_export(provider):
    assert provider.supports(Capability.BULK_EXPORT)


def test_typed_values_come_out_as_the_change_reads_give_them(provider, empty_sandbox):
    """Booleans, lookups (Account_Name with its name), user lookups (Owner), multi-selects and numbers: the CSV's
    text becomes the record COQL's pages give (the emulator's Get Records fills booleans it never stored with
    false, which COQL and the CSV leave empty), and the read by id agrees on the rest."""
    seed(empty_sandbox, "Accounts", 4)
    seed(empty_sandbox, "Contacts", 25)
    job = completed(empty_sandbox, provider, provider.export_start(object="contact"))
    exported = list(provider.export_records(job=job))
    page = provider.changed_since(object="contact", cursor=Cursor.start(), page_size=200)
    assert not page.has_more
    paged = {record.id: record for record in page.records}
    assert sorted(record.id for record in exported) == sorted(paged)
    kinds_seen: set[str] = set()
    for record in exported:
        twin = paged[record.id]
        assert record.id == twin.id
        # Tags are objects ({name, id, color_code}) in COQL; Bulk Read's CSV carries their ids only.
        assert without_tag(record.fields) == without_tag(twin.fields)
        assert (record.custom_fields, record.problems) == (twin.custom_fields, twin.problems)
        read = provider.record(object="contact", record_id=record.id)
        assert (record.name, record.email, record.owner_id, record.owner_name) == (
            read.name,
            read.email,
            read.owner_id,
            read.owner_name,
        )
        assert (record.created_time, record.modified_time, record.phones) == (
            read.created_time,
            read.modified_time,
            read.phones,
        )
        kinds_seen |= {type(value).__name__ for value in [*record.fields.values(), *record.custom_fields.values()]}
    assert {"bool", "list"} <= kinds_seen
    assert any(record.get("account_name_id") and record.get("account_name_name") for record in exported)


def without_tag(fields):
    return {key: value for key, value in fields.items() if key != "tag"}


def test_jobs_past_zohos_cap_continue_with_its_page_token(provider, empty_sandbox):
    empty_sandbox.state.crm.bulk.per_page = 5  # Zoho's is 200,000
    seed(empty_sandbox, "Leads", 12)
    seen, job, jobs = [], provider.export_start(object="lead"), 0
    while True:
        job = completed(empty_sandbox, provider, job)
        jobs += 1
        seen += [record.id for record in provider.export_records(job=job)]
        if not job.continuation:
            break
        job = provider.export_start(object="lead", after=job)
    assert jobs == 3
    assert sorted(seen) == sorted(record["id"] for record in control(empty_sandbox, "GET", "zoho/Leads?limit=100"))
    assert len(seen) == len(set(seen)) == 12
    with pytest.raises(ValueError, match="no records after it"):
        provider.export_start(object="lead", after=job)


def test_an_expired_continuation_is_not_found(provider, empty_sandbox):
    """Zoho's page tokens do not last: the caller learns it must export again."""
    seed(empty_sandbox, "Leads", 2)
    capped = ExportJob(id="1", object="lead", state=ExportState.COMPLETED, continuation="expired-token")
    with pytest.raises(CrmNotFound) as caught:
        provider.export_start(object="lead", after=capped)
    assert caught.value.code == "CONTINUATION_EXPIRED"


def test_a_download_that_fails_midway_is_retried_into_an_empty_file(provider, empty_sandbox):
    seed(empty_sandbox, "Leads", 30)
    job = completed(empty_sandbox, provider, provider.export_start(object="lead"))
    control(empty_sandbox, "POST", "faults", {"path": r"^/crm/bulk/v8/read/\d+/result", "status": 503, "times": 1})
    ids = [record.id for record in provider.export_records(job=job)]
    assert len(ids) == len(set(ids)) == 30


def test_the_download_goes_to_a_file_not_into_memory(provider, empty_sandbox, monkeypatch):
    """The transport streams the ZIP into the file it is given; nothing reads the body as bytes."""
    seed(empty_sandbox, "Leads", 3)
    job = completed(empty_sandbox, provider, provider.export_start(object="lead"))
    files = []
    spooled = export.tempfile.SpooledTemporaryFile

    def recording(*args, **kwargs):
        handle = spooled(*args, **kwargs)
        files.append(handle)
        return handle

    monkeypatch.setattr(export.tempfile, "SpooledTemporaryFile", recording)
    monkeypatch.setattr("requests.Response.content", property(lambda self: pytest.fail("body read into memory")))
    assert len(list(provider.export_records(job=job))) == 3
    assert len(files) == 1


def test_a_running_job_state_and_what_is_refused(provider, empty_sandbox):
    control(empty_sandbox, "PATCH", "config", {"bulk_read_seconds_per_state": 3600})
    seed(empty_sandbox, "Leads", 2)
    job = provider.export_start(object="lead")
    assert job.state == ExportState.QUEUED  # ADDED
    with pytest.raises(ValueError, match="ask export_status"):
        provider.export_records(job=job)
    with pytest.raises(ValueError, match="negative"):
        provider.export_records(job=completed(empty_sandbox, provider, job), skip=-1)
    with pytest.raises(CrmNotFound):
        provider.export_status(job=ExportJob(id="not-a-job", object="lead", state=ExportState.QUEUED))
    failing = provider.export_start(object="lead")
    control(empty_sandbox, "POST", f"zoho/bulk/{failing.id}/fail", {})
    failed = provider.export_status(job=failing)
    assert failed.state == ExportState.FAILED
    with pytest.raises(CrmRejected) as caught:
        provider.export_records(job=failed)
    assert (caught.value.code, caught.value.retryable) == ("EXPORT_FAILED", False)


@pytest.mark.parametrize(
    ("zoho_state", "state"),
    [
        ("ADDED", ExportState.QUEUED),
        ("QUEUED", ExportState.QUEUED),
        ("IN PROGRESS", ExportState.RUNNING),
        ("COMPLETED", ExportState.COMPLETED),
        ("FAILURE", ExportState.FAILED),
        ("FAILED", ExportState.FAILED),
    ],
)
def test_zoho_states_are_export_states(zoho_state, state):
    assert export.STATES[zoho_state] == state


def test_csv_text_goes_back_into_coqls_shape():
    metadata = [
        {"api_name": "Owner", "data_type": "ownerlookup"},
        {"api_name": "Account_Name", "data_type": "lookup", "lookup": {"module": {"api_name": "Accounts"}}},
        {"api_name": "SMS_Opt_Out", "data_type": "boolean"},
        {"api_name": "Interests", "data_type": "multiselectpicklist"},
        {"api_name": "Last_Name", "data_type": "text"},
    ]
    mapping = module_mapping_build(module="Contacts", metadata=metadata, display_fields={}, currency_code="")
    text = "id,Owner,Account_Name,SMS_Opt_Out,Interests,Last_Name\n1,7,,TRUE,Yoga;Pilates,\n2,,9,maybe,,Ng\n"
    rows = list(export.zoho_rows(mapping, csv.reader(io.StringIO(text))))
    assert rows == [
        {
            "id": "1",
            "Owner": {"id": "7"},
            "Account_Name": None,
            "SMS_Opt_Out": True,
            "Interests": ["Yoga", "Pilates"],
            "Last_Name": None,
        },
        {
            "id": "2",
            "Owner": None,
            "Account_Name": {"id": "9"},
            "SMS_Opt_Out": "maybe",
            "Interests": [],
            "Last_Name": "Ng",
        },
    ]
    assert [row["id"] for row in export.zoho_rows(mapping, csv.reader(io.StringIO(text)), skip=1)] == ["2"]


def test_a_zip_without_one_csv_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "nothing")
    with zipfile.ZipFile(buffer) as archive, pytest.raises(ZohoRequestError, match="0 CSV files"):
        export._csv_member(archive, ExportJob(id="1", object="lead", state=ExportState.COMPLETED))
