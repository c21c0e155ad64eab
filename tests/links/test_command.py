from io import StringIO

import pytest

from django.core.management import call_command
from django.core.management.base import CommandError

from links.models import LinkChange, SyncLink
from tests.links.firstsync_helpers import World

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("links", *args, stdout=out)
    return out.getvalue()


def overlapping() -> World:
    world = World()
    world.mirror("a", {"id": "L1", "email": "ng@acme.test"}, {"id": "L2", "email": "solo@acme.test"})
    world.mirror("b", {"id": "C1", "email": "ng@acme.test"})
    return world


def test_preview_prints_the_counts_table_and_writes_nothing():
    world = overlapping()

    out = run("preview", "--organization", "acme", "--link", "acme-sync")

    assert "acme/acme-sync (draft): preview, nothing written" in out
    header, row = out.splitlines()[1:3]
    assert header.split() == [
        "object",
        "matched",
        "create_a",
        "create_b",
        "update_a",
        "update_b",
        "conflicts",
        "ambiguous",
    ]
    assert row.split()[3:6] == ["1", "0", "1"]
    assert "matched by email 1" in out
    assert not LinkChange.objects.for_organization(world.organization).exists()


def test_start_pause_resume_and_status(django_capture_on_commit_callbacks):
    world = overlapping()

    with django_capture_on_commit_callbacks():
        assert "started" in run("start", "--organization", "acme", "--link", "acme-sync")
        assert "already running" in run("start", "--link", "acme-sync")
    assert "paused (nightly import)" in run(
        "pause", "--org", "acme", "--link", "acme-sync", "--reason", "nightly import"
    )
    status = run("status", "--organization", "acme")
    assert status.startswith("acme/acme-sync: paused  lag p50/p99 -  pending 3 changes")
    assert "open reviews 0" in status
    with django_capture_on_commit_callbacks():
        assert "running" in run("resume", "--organization", "acme")
    world.link.refresh_from_db()
    assert world.link.state == SyncLink.State.RUNNING


def test_a_link_that_cannot_start_lists_its_problems_without_a_traceback():
    world = overlapping()
    world.fields[0].field_b = "lastnme"
    world.fields[0].save()

    with pytest.raises(CommandError, match=r"acme/acme-sync cannot start:\n  - .*has no field 'lastnme'"):
        run("start", "--organization", "acme", "--link", "acme-sync")


def test_start_names_one_link_and_never_starts_every_link_at_once():
    World("acme")
    World("bolt")
    SyncLink.objects.unscoped().update(name="sync")

    with pytest.raises(CommandError, match="Name the link to start"):
        run("start", "--organization", "acme")
    with pytest.raises(CommandError, match="Organizations acme, bolt each have a link 'sync'"):
        run("start", "--link", "sync")
    assert not SyncLink.objects.unscoped().exclude(state=SyncLink.State.DRAFT).exists()


def test_preview_lists_the_problems_that_would_stop_a_start():
    world = overlapping()
    world.fields[0].field_b = "lastnme"
    world.fields[0].save()

    out = run("preview", "--organization", "acme")

    assert "Problems (the link cannot start until they are fixed):" in out
    assert "  - acme-sync: lead ⇄ contact: side B (HubSpot) has no field 'lastnme'" in out


def test_unknown_organizations_and_links_are_command_errors():
    World()

    with pytest.raises(CommandError, match="No organization 'nope'"):
        run("status", "--organization", "nope")
    with pytest.raises(CommandError, match="No link 'nope' in acme"):
        run("status", "--organization", "acme", "--link", "nope")
    with pytest.raises(CommandError, match="has not started"):
        run("pause", "--organization", "acme")


def test_the_organization_scopes_the_links_acted_on(django_capture_on_commit_callbacks):
    World("acme")
    bolt = World("bolt")

    with pytest.raises(CommandError, match="No link 'bolt-sync' in acme"):
        run("status", "--organization", "acme", "--link", "bolt-sync")
    out = run("status", "--organization", "acme")
    assert "acme/acme-sync" in out
    assert "bolt" not in out
    bolt.link.refresh_from_db()
    assert bolt.link.state == SyncLink.State.DRAFT
