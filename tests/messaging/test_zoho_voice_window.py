"""Zoho Voice's `fromDate` has no documented time zone: Zoho may read it as UTC (what we send) or in the CRM org's
zone. Read in a zone behind UTC (UTC-10: Hawaii), "12:00" means 22:00 UTC, and a poll asking from 12:00 UTC would
never see the texts of the ten hours in between. The poll asks from far enough back (the widest UTC offset plus its
overlap) that no reading drops a text; dedup by log id makes the extra logs free. The sandbox can read `fromDate` in
a zone (`/_sandbox/voice/settings`), as Zoho might."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django.utils import timezone

from messaging.models import Message
from messaging.providers.zoho_voice.models import ZohoVoicePollCursor
from messaging.providers.zoho_voice.poll import zoho_voice_poll
from messaging.providers.zoho_voice.provider import FROM_DATE_ZONE_SLACK
from tests.messaging.test_zoho_voice import ZV_LEAD, zv_fresh_http, zv_world  # noqa: F401

ZONES = ["Pacific/Honolulu", "Pacific/Kiritimati", "Etc/GMT+12", "UTC"]  # UTC-10, UTC+14, UTC-12, UTC


def test_the_slack_covers_every_utc_offset():
    assert timedelta(hours=14) <= FROM_DATE_ZONE_SLACK


@pytest.mark.parametrize("zone", ZONES)
def test_a_text_is_picked_up_whatever_zone_zoho_reads_from_date_in(zv_world, zone):  # noqa: F811
    world = zv_world
    world.control("POST", "/_sandbox/voice/settings", json={"from_date_zone": zone})
    # The number was polled a minute ago and saw a log then; the lead texts now.
    ZohoVoicePollCursor.unscoped_objects.create(
        organization=world.organization,
        phone_number=world.number,
        last_polled_at=timezone.now() - timedelta(minutes=1),
        last_seen_at=timezone.now() - timedelta(minutes=1),
    )
    world.lead_texts("Is the 6pm class full?")
    result = zoho_voice_poll(phone_number=world.number)
    assert result.ingest.inserted == 1, result.as_dict()
    inbound = Message.objects.for_organization(world.organization).get(direction="inbound")
    assert (inbound.from_number, inbound.body) == (ZV_LEAD, "Is the 6pm class full?")
    # The next poll reads the same logs again and stores nothing twice.
    again = zoho_voice_poll(phone_number=world.number)
    assert again.ingest.inserted == 0
    assert Message.objects.for_organization(world.organization).count() == 1


def test_a_first_poll_does_not_import_the_wider_windows_history(zv_world):  # noqa: F811
    world = zv_world
    world.lead_texts("An old text, before the number was connected")
    old = world.sandbox_logs()[0]["logid"]
    world.control(
        "POST",
        f"/_sandbox/voice/logs/{old}/time",
        json={"submitted": (timezone.now() - timedelta(hours=5)).isoformat()},
    )
    world.lead_texts("A new one")
    zoho_voice_poll(phone_number=world.number)
    assert list(Message.objects.for_organization(world.organization).values_list("body", flat=True)) == ["A new one"]


def test_asking_whether_a_text_went_out_ignores_an_identical_earlier_one(zv_world):  # noqa: F811
    # The wider window must not make an earlier identical text pass for the one whose answer was lost.
    world = zv_world
    earlier = world.send("See you at 6")
    world.control(
        "POST",
        f"/_sandbox/voice/logs/{earlier.provider_message_id}/time",
        json={"submitted": (timezone.now() - timedelta(hours=2)).isoformat()},
    )
    since = timezone.now() - timedelta(minutes=1)
    assert (
        world.provider.find_sent(from_number=world.number.number, to_number=ZV_LEAD, body="See you at 6", since=since)
        is None
    )
    again = world.send("See you at 6")
    found = world.provider.find_sent(
        from_number=world.number.number, to_number=ZV_LEAD, body="See you at 6", since=since
    )
    assert found is not None
    assert found.provider_message_id == again.provider_message_id
