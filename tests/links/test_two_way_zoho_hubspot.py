"""Two-way sync between Zoho CRM (side A, its contacts) and HubSpot (side B, its contacts), both emulated on one
sandbox over real HTTP, mirrored by the real mirror and linked through the real engine (tests/links/world.py): the
first sync of overlapping data, randomized concurrent edits with faults, a refused write retried, and echo
suppression by hashes alone (neither CRM tags our writes)."""

from __future__ import annotations

import pytest

from django.core.cache import cache

from tests.links.world import (
    Roles,
    World,
    concurrent_edits,
    echo_suppressed,
    first_sync_overlap,
    refused_write,
    sandbox_fixture,
)

# The mirror reads in a background thread with its own database connection: committed data, no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

KINDS = ("zoho", "hubspot")
ROLES = Roles(
    object_a="contact",
    object_b="contact",
    first=("First_Name", "firstname"),
    last=("Last_Name", "lastname"),
    email=("Email", "email"),
    phone=("Phone", "phone"),
    title=("Title", "jobtitle"),
    city=("Mailing_City", "city"),
)


@pytest.fixture
def crms(request) -> World:
    cache.clear()  # tokens and budgets of another test's emulators
    server = request.getfixturevalue(sandbox_fixture(KINDS))
    yield World(server=server, kinds=KINDS)
    cache.clear()


def test_first_sync_of_overlapping_contacts_creates_no_duplicates_and_lists_the_ambiguous(crms, settings):
    # Planned in chunks of 4 as a large first sync is in chunks of 500: one chunk's writes are sent before the next
    # chunk's changes (the other side's records, read before those writes) are planned.
    settings.LINKS_PLAN_CHUNK = 4
    first_sync_overlap(crms, ROLES)


def test_concurrent_edits_with_faults_settle_equal_with_each_change_written_once(crms):
    concurrent_edits(crms, ROLES)


def test_a_refused_write_waits_in_the_failed_queue_and_succeeds_when_retried_after_the_fix(crms):
    refused_write(crms, ROLES)


def test_our_writes_coming_back_are_known_by_their_hashes_and_write_nothing(crms):
    echo_suppressed(crms, ROLES, source_tag=(False, False))
