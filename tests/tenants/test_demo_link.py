"""The demo's two-way link: Summit Fitness Co. has a second CRM, its marketing team's HubSpot portal (Summit
Marketing), and a draft link between it and its Salesforce org in the document `manage.py demo` applies. Against
the sandbox's demo world the link is valid, its preview matches the overlapping people (by e-mail, by phone, a few
ambiguous) and it starts."""

from __future__ import annotations

import io
from typing import Any

import pytest

from django.core.cache import cache
from django.core.management import call_command

from crm.registry import provider_for
from links.config import link_problems
from links.models import LinkObject, MatchReview, RecordPair, SyncLink
from links.preview import link_preview
from links.services import link_start
from sandbox import worlds
from studios.models import Membership, Organization
from sync.delta import sync_run
from sync.models import SyncRun
from tenants import demo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Tokens and field metadata are cached by connection id: a sandbox of another test holds none of them."""
    cache.clear()
    yield
    cache.clear()


def demo_loaded(settings: Any, sandbox: Any) -> Organization:
    """`manage.py demo` against the running sandbox, exactly as `make run` loads it."""
    settings.DEBUG = True
    settings.SANDBOX_URL = sandbox.url
    call_command("demo", stdout=io.StringIO())
    return Organization.objects.unscoped().get(slug=demo.DEMO_SF_ORGANIZATION)


def mirror(link: SyncLink) -> None:
    """One mirror run of each linked object on both sides, as the schedule would run them."""
    for link_object in LinkObject.objects.for_organization(link.organization).filter(link=link):
        for connection, object in (
            (link.connection_a, link_object.object_a),
            (link.connection_b, link_object.object_b),
        ):
            run = sync_run(
                organization=link.organization, object=object, connection=connection, provider=provider_for(connection)
            )
            assert run.status == SyncRun.Status.OK, run.error


def summit_link(summit: Organization) -> SyncLink:
    return (
        SyncLink.objects.for_organization(summit)
        .select_related("connection_a", "connection_b")
        .get(name=demo.DEMO_SUMMIT_LINK)
    )


def test_the_demos_summit_marketing_values_are_the_sandboxes():
    assert demo.DEMO_SUMMIT_HS_PORTAL_ID == str(worlds.DEMO_SUMMIT_HS_PORTAL_ID)
    assert demo.DEMO_SUMMIT_HS_PORTAL_NAME == worlds.DEMO_SUMMIT_HS_PORTAL_NAME
    assert demo.DEMO_SUMMIT_HS_DOMAIN == worlds.DEMO_SUMMIT_HS_DOMAIN
    assert demo.DEMO_SUMMIT_HS_REFRESH_TOKEN == worlds.DEMO_SUMMIT_HS_REFRESH_TOKEN
    owners = {owner["email"]: owner["id"] for owner in worlds.DEMO_SUMMIT_HS_OWNERS}
    assert demo.DEMO_SUMMIT_HS_OWNERS == owners
    assert str(worlds.DEMO_SUMMIT_HS_OWNERS[0]["userId"]) == demo.DEMO_SUMMIT_HS_MANAGER_USER_ID
    # The same people own records on both sides: every Salesforce user is an owner of the portal.
    assert {user["email"] for user in worlds.DEMO_SF_USERS} == set(owners)


def test_the_demos_link_is_valid_and_previews_and_starts_against_the_sandbox(
    settings, sandbox, django_capture_on_commit_callbacks
):
    summit = demo_loaded(settings, sandbox)
    link = summit_link(summit)
    assert link.state == SyncLink.State.DRAFT  # applying the file never starts a link
    assert (link.connection_a.name, link.connection_b.name) == (demo.DEMO_SF_CONNECTION, demo.DEMO_SUMMIT_HS_CONNECTION)
    for email, owner_id in demo.DEMO_SUMMIT_HS_OWNERS.items():  # members are one person on both connections
        membership = Membership.objects.unscoped().get(user__email=email, organization=summit)
        ids = {row.connection.name: row.crm_user_id for row in membership.crm_users.select_related("connection")}
        assert ids[demo.DEMO_SUMMIT_HS_CONNECTION] == owner_id
        assert ids[demo.DEMO_SF_CONNECTION]

    assert link_problems(link) == []

    mirror(link)
    preview = link_preview(link)
    assert not preview.get("problems")
    (counts,) = [entry for entry in preview["objects"]]
    assert counts["matched"] >= worlds.DEMO_SUMMIT_HS_BY_EMAIL + worlds.DEMO_SUMMIT_HS_BY_PHONE
    assert counts["ambiguous"] >= worlds.DEMO_SUMMIT_HS_AMBIGUOUS
    assert counts["create_b"] > 0  # Leads marketing does not have yet
    assert counts["create_a"] == 0  # contacts marketing alone has stay in HubSpot (create.a is off)

    with django_capture_on_commit_callbacks():
        link = link_start(summit_link(summit))
    assert link.state == SyncLink.State.RUNNING
    pairs = RecordPair.objects.for_organization(summit).filter(link_object__link=link)
    assert (
        pairs.exclude(id_a="").exclude(id_b="").count()
        >= worlds.DEMO_SUMMIT_HS_BY_EMAIL + worlds.DEMO_SUMMIT_HS_BY_PHONE
    )
    reviews = MatchReview.objects.for_organization(summit).filter(link_object__link=link)
    assert reviews.filter(state=MatchReview.State.OPEN).count() >= worlds.DEMO_SUMMIT_HS_AMBIGUOUS
