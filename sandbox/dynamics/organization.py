"""The environment's `organization` row, read-only: `GET /organizations(<organizationid>)` and `GET /organizations`
(one row), with `$select`, as every Dataverse user (an application user too) may read them. The connection names
its customer from it (`?$select=name`).

The row is made from the Environment (organization_id, organization_name) at each call rather than kept as a table
of the environment: Dataverse has exactly one, which no one creates, deletes or change-tracks."""

from __future__ import annotations

import uuid

from werkzeug.wrappers import Response

from sandbox.dynamics.calls import API_PREFIX, Call, dv_endpoint, problem
from sandbox.dynamics.records import represent
from sandbox.dynamics.shapes import context_url, parse_select, row_json
from sandbox.dynamics.state_tables import Attribute, Row, Table
from sandbox.http import json_response

_READ_ONLY = {"valid_for_create": False, "valid_for_update": False}
ORGANIZATION = Table(
    logical_name="organization",
    entity_set_name="organizations",
    primary_id="organizationid",
    primary_name="name",
    display_name="Organization",
    display_collection_name="Organizations",
    change_tracking=False,
    object_type_code=1019,
    attributes={
        attribute.logical_name: attribute
        for attribute in (
            Attribute("organizationid", "Uniqueidentifier", "Organization", table="organization", **_READ_ONLY),
            Attribute("name", "String", "Name", format="Text", max_length=160, table="organization", **_READ_ONLY),
            Attribute("versionnumber", "BigInt", "Version Number", table="organization", **_READ_ONLY),
        )
    },
)


def organization_row(call: Call) -> Row:
    environment = call.environment
    return {
        "organizationid": environment.organization_id,
        "name": environment.organization_name,
        "versionnumber": 1,
    }


def read(call: Call, key: str) -> Response:
    """The organization by its id (braces and case as a client may send them); any other id: 404 as Dataverse
    answers for a missing row."""
    row = organization_row(call)
    try:
        asked = str(uuid.UUID(key.strip().strip("{}")))
    except ValueError:
        raise problem(400, "0x80060888", f"Bad Request - Error in query syntax: '{key}' is not an id.") from None
    if asked != row["organizationid"].lower():
        raise problem(404, "0x80040217", f"organization With Id = {asked} Does Not Exist")
    return represent(call, ORGANIZATION, row, 200)


def collection(call: Call) -> Response:
    """The one organization row as a collection (`$select` honoured; other query options ignored, as a one-row
    table answers them the same)."""
    select = parse_select(ORGANIZATION, call.request.args.get("$select"))
    body = {
        "@odata.context": context_url(call.api_url, ORGANIZATION, select, entity=False),
        "value": [row_json(call.environment, ORGANIZATION, organization_row(call), select=select)],
    }
    return json_response(body)


ROUTES = [
    (f"{API_PREFIX}/organizations", ["GET"], dv_endpoint(collection)),
    (f"{API_PREFIX}/organizations(<key>)", ["GET"], dv_endpoint(read)),
]
