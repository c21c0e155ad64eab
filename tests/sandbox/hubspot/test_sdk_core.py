"""HubSpot's own Python client (hubspot-api-client, unmodified) reads the emulator's owners, properties,
associations v4, OAuth and record answers into its models without complaint (a shape the client's models refuse
fails here). Searches and upserts through it: test_sdk.py."""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, SimplePublicObjectId
from hubspot.crm.contacts.exceptions import NotFoundException
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput

from sandbox.server import SandboxServer

TIMEOUT = 30


@pytest.fixture(scope="module")
def sdk():
    with SandboxServer(world="empty") as server:
        control = f"{server.url}/_sandbox/hubspot"
        portal = requests.post(f"{control}/portals", json={"name": "SDK Core Gym"}, timeout=TIMEOUT).json()
        app = requests.post(f"{control}/apps", json={}, timeout=TIMEOUT).json()
        install = requests.post(
            f"{control}/portals/{portal['portal_id']}/installs", json={"app_id": app["app_id"]}, timeout=TIMEOUT
        ).json()
        for spec in ({"object_type": "companies", "count": 3}, {"object_type": "contacts", "count": 6}):
            requests.post(f"{control}/portals/{portal['portal_id']}/seed", json=spec, timeout=TIMEOUT)
        client = HubSpot(access_token=install["access_token"], host=f"{server.url}/hubspot")
        contacts = [record.id for record in client.crm.contacts.basic_api.get_page(limit=10).results]
        companies = [record.id for record in client.crm.companies.basic_api.get_page(limit=10).results]
        yield client, portal, app, install, contacts, companies


def test_owners_and_properties_fit_the_clients_models(sdk):
    client, portal, *_ = sdk
    owners = client.crm.owners.owners_api.get_page().results
    assert [owner.id for owner in owners] == [owner["id"] for owner in portal["owners"]]
    assert client.crm.owners.owners_api.get_by_id(owners[0].id).email == owners[0].email
    properties = {meta.name: meta for meta in client.crm.properties.core_api.get_all("contacts").results}
    assert properties["lifecyclestage"].type == "enumeration"
    assert properties["phone"].field_type == "phonenumber"
    assert properties["lastmodifieddate"].modification_metadata.read_only_value is True


def test_associations_v4_through_the_client(sdk):
    client, _, _, _, contacts, companies = sdk
    labels = client.crm.associations.v4.schema.definitions_api.get_all("contacts", "companies").results
    assert {label.type_id for label in labels} == {1, 279}
    client.crm.associations.v4.basic_api.create_default("contacts", contacts[0], "companies", companies[0])
    page = client.crm.associations.v4.batch_api.get_page(
        "contacts",
        "companies",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=contacts[0])]),
    )
    assert [str(item.to_object_id) for item in page.results[0].to] == [companies[0]]  # the model types it str


def test_tasks_records_and_archives_through_the_client(sdk):
    client, _, _, _, contacts, _ = sdk
    task = client.crm.objects.tasks.basic_api.create(
        TaskInput(
            properties={"hs_timestamp": "2026-12-08T10:00:00Z", "hs_task_subject": "Welcome call"},
            associations=[
                {
                    "to": {"id": contacts[1]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
                }
            ],
        )
    )
    got = client.crm.contacts.basic_api.get_by_id(contacts[1], associations=["tasks"])
    assert [item.id for item in got.associations["tasks"].results] == [task.id]
    read = client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=contacts[1]), SimplePublicObjectId(id="999999")], properties=["email"]
        )
    )
    assert [record.id for record in read.results] == [contacts[1]]
    assert read.errors[0].category == "OBJECT_NOT_FOUND"
    client.crm.contacts.basic_api.archive(contacts[2])
    archived = client.crm.contacts.basic_api.get_page(archived=True).results
    assert [record.id for record in archived] == [contacts[2]]
    assert archived[0].archived_at is not None
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(contacts[2])


def test_oauth_through_the_client(sdk):
    client, portal, app, install, *_ = sdk
    info = client.oauth.access_tokens_api.get(install["access_token"])
    assert info.hub_id == portal["portal_id"]
    assert client.oauth.refresh_tokens_api.get(install["refresh_token"]).client_id == app["client_id"]
    tokens = client.oauth.tokens_api.create(
        grant_type="refresh_token",
        refresh_token=install["refresh_token"],
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert tokens.expires_in == 1800
    assert tokens.refresh_token == install["refresh_token"]
