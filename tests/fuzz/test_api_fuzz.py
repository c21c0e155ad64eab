"""Schemathesis against the API's own OpenAPI document (/api/schema/), in process through the WSGI app, signed in
as a manager with a widget token: every operation, valid and invalid input, never a 5xx, and answers that match
the document. Path ids are sometimes real rows of the manager's organization, so the handlers behind the 404 are
fuzzed too. Bounded and derandomized: the same cases on every run (see README, "Tests")."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import RequestFactory
from django.urls import resolve

from identity.tokens import widget_token_issue
from sandbox import worlds
from tests.factories import ZohoCrmAccountFactory
from tests.messaging.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

# Cases per operation: enough to reach every parameter with good and bad values, few enough for CI (the whole
# directory runs in well under a minute on two cores).
MAX_EXAMPLES = 25


@dataclass
class FuzzWorld:
    headers: dict[str, str]
    ids: dict[str, list[int]]  # path prefix -> real ids to sometimes put in `{pk}`


WORLD: dict[str, FuzzWorld] = {}  # the running test's world, for the path-parameter hook


@pytest.fixture
def fuzz_world(tenant_a, tenant_b, empty_sandbox, _connection_kept) -> FuzzWorld:
    tenant_a.zoho.delete()  # the CRM panel asks the local emulator, never the internet
    ZohoCrmAccountFactory(
        organization=tenant_a.organization,
        client_id=worlds.DEMO_CLIENT_ID,
        client_secret=worlds.DEMO_CLIENT_SECRET,
        refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN,
        accounts_url=empty_sandbox.url,
        api_domain=empty_sandbox.url,
    )
    linked = ContactFactory(organization=tenant_a.organization, crm_object="lead", crm_record_id="4150868000000001")
    conversations = [
        ConversationFactory(studio=tenant_a.studio, contact=linked),
        ConversationFactory(studio=None, organization=tenant_a.organization),
        ConversationFactory(studio=tenant_b.studio),  # another organization's: always 404
    ]
    for conversation in conversations:
        MessageFactory(conversation=conversation, body="Is the pool open? ünïcode ✓")
        MessageFactory(conversation=conversation, direction="outbound", sent_by=None)
    token, _ = widget_token_issue(membership=tenant_a.manager)
    world = FuzzWorld(
        headers={"Authorization": f"Bearer {token}"},
        ids={
            "/api/v1/conversations/": [c.pk for c in conversations],
            "/api/v1/contacts/": [c.contact_id for c in conversations],
        },
    )
    WORLD["current"] = world
    yield world
    WORLD.clear()


def flatmap_path_parameters(context, path_parameters):
    """Half the time a real id (ours or another organization's) instead of the generated one."""
    world = WORLD.get("current")
    if world is None or not path_parameters or "pk" not in path_parameters:
        return st.just(path_parameters)
    real = next((ids for prefix, ids in world.ids.items() if context.operation.path.startswith(prefix)), [])
    return st.sampled_from([path_parameters["pk"], *real]).map(lambda pk: {**path_parameters, "pk": pk})


@pytest.fixture
def _connection_kept():
    """Requests go through the WSGI handler, not the test client: keep Django from closing the test's connection
    (and so its transaction) at the end of each request, as the test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def served_document() -> dict:
    """The document /api/schema/ serves, read once at collection from its view (the request handler would open a
    database transaction, and there is no test database yet)."""
    view = resolve("/api/schema/").func
    response = view(RequestFactory().get("/api/schema/", {"format": "json"}))
    response.render()
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


schema = schemathesis.openapi.from_dict(served_document())
schema.app = get_wsgi_application()  # cases are sent in process through the WSGI app, as from_wsgi() would
schema.hook(flatmap_path_parameters)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_api_operation_answers_a_5xx_or_off_its_schema(case, fuzz_world):
    response = case.call(headers=fuzz_world.headers)
    checks = [not_a_server_error]
    if not unrouted(response):
        checks += [content_type_conformance, response_schema_conformance]
        if response.status_code not in PROTOCOL_STATUSES:
            checks.append(status_code_conformance)
    case.validate_response(response, checks=checks, headers=fuzz_world.headers)


# Answers DRF gives any operation for the request's form rather than its content (a method not allowed, an
# unacceptable Accept header, a body in a media type no parser reads): the document lists them on no operation.
PROTOCOL_STATUSES = {405, 406, 415}


def unrouted(response) -> bool:
    """Django's own HTML 404 for a path no API route matches (`/conversations/null/`: ids are `<int:pk>`): no API
    view answered, so the API's document does not describe the answer; it must still not be a 5xx."""
    content_type = (response.headers.get("content-type") or [""])[0]
    return response.status_code == 404 and content_type.startswith("text/html")
