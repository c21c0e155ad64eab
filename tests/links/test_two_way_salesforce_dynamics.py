"""Two-way sync between Salesforce (side A, its leads) and Dynamics 365 (side B, its leads), both emulated on one
sandbox over real HTTP, mirrored by the real mirror and linked through the real engine (tests/links/world.py): the
first sync of overlapping data, randomized concurrent edits with faults, a refused write retried, and echo
suppression with Dynamics' source tag (the app user that modified a row) beside the hashes, Salesforce's by hashes."""

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

KINDS = ("salesforce", "dynamics")
ROLES = Roles(
    object_a="lead",
    object_b="lead",
    first=("FirstName", "firstname"),
    last=("LastName", "lastname"),
    email=("Email", "emailaddress1"),
    phone=("Phone", "telephone1"),
    title=("Title", "jobtitle"),
    city=("City", "address1_city"),
    company=("Company", "companyname"),
)


@pytest.fixture
def crms(request) -> World:
    cache.clear()  # tokens and budgets of another test's emulators
    server = request.getfixturevalue(sandbox_fixture(KINDS))
    yield World(server=server, kinds=KINDS)
    cache.clear()


def test_first_sync_of_overlapping_leads_creates_no_duplicates_and_lists_the_ambiguous(crms, settings):
    # Planned in chunks of 4 as a large first sync is in chunks of 500: one chunk's writes are sent before the next
    # chunk's changes (the other side's records, read before those writes) are planned.
    settings.LINKS_PLAN_CHUNK = 4
    first_sync_overlap(crms, ROLES)


def test_concurrent_edits_with_faults_settle_equal_with_each_change_written_once(crms):
    concurrent_edits(crms, ROLES)


def test_a_refused_write_waits_in_the_failed_queue_and_succeeds_when_retried_after_the_fix(crms):
    refused_write(crms, ROLES)


def test_our_writes_coming_back_are_known_by_the_source_tag_and_the_hashes_and_write_nothing(crms):
    echo_suppressed(crms, ROLES, source_tag=(False, True))
