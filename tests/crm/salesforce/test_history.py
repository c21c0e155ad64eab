"""What the delta sync reads besides changed records, against the emulator: getDeleted's history (this minute's
deletions from the Recycle Bin, a log that no longer reaches back is CrmHistoryExpired) and converted leads (an
ordinary change: IsConverted and the converted ids)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.errors import CrmHistoryExpired
from crm.records import Cursor
from tests.crm.harness_salesforce import control

LEAD = "lead"


def test_deletions_since_a_moment_include_this_minute_and_none_from_the_future(sf, provider):
    ids = sf.seed("Lead", 3)
    since = datetime.now(UTC) - timedelta(seconds=2)
    sf.delete("Lead", ids[0])
    deleted = list(provider.deleted_since(object=LEAD, since=since))
    assert [entry.id for entry in deleted] == [ids[0]]
    assert deleted[0].deleted_at is not None
    assert list(provider.deleted_since(object=LEAD, since=datetime.now(UTC) + timedelta(minutes=1))) == []
    assert ids[0] in [entry.id for entry in provider.deleted_since(object=LEAD, since=None)]


def test_a_delete_log_purged_after_the_last_run_is_history_expired(sf, provider, empty_sandbox):
    (gone,) = sf.seed("Lead", 1)
    since = datetime.now(UTC) - timedelta(minutes=5)
    sf.delete("Lead", gone)
    control(empty_sandbox, "POST", "clock", {"advance_seconds": 180})
    purge = sf.call("POST", "/deleted-log/purge", {"before": control(empty_sandbox, "GET", "clock")["now"]})
    with pytest.raises(CrmHistoryExpired) as caught:
        list(provider.deleted_since(object=LEAD, since=since))
    assert caught.value.available_from is not None
    assert caught.value.available_from > since
    assert purge["purged"] >= 1


def test_a_moment_older_than_the_fifteen_days_getdeleted_keeps_is_history_expired_without_a_call(provider):
    provider.object_spec(object=LEAD)  # as a sync run does first
    before = provider.credits_used
    with pytest.raises(CrmHistoryExpired, match="15 days"):
        list(provider.deleted_since(object=LEAD, since=datetime.now(UTC) - timedelta(days=16)))
    assert provider.credits_used == before


def test_a_converted_lead_comes_with_its_conversion(sf, provider, empty_sandbox):
    (lead_id,) = sf.seed("Lead", 1)
    cursor = provider.changed_since(object=LEAD, cursor=Cursor.start()).cursor
    control(empty_sandbox, "POST", "clock", {"advance_seconds": 1.01})
    converted = sf.call("POST", f"/leads/{lead_id}/convert", {"opportunity": True})
    (record,) = provider.changed_since(object=LEAD, cursor=cursor).records
    assert record.id == lead_id
    assert record.fields["is_converted"] is True
    assert record.fields["converted_contact_id"] == converted["contact_id"]
    assert record.fields["converted_account_id"] == converted["account_id"]
    assert record.fields["converted_opportunity_id"] == converted["opportunity_id"]
