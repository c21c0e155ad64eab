"""HubSpot's record page, as far as development needs it: `GET /hubspot/contacts/<portal id>/record/<type id>/<id>`
(the product links records as `{HUBSPOT_APP_URL}/contacts/{hub_id}/record/0-1/{id}`; HubSpot's app uses that
path for every object type, the type id choosing which). It shows the record's properties, its associated
records and its timeline (communications, tasks and notes associated with it, newest first), so a developer
sees the texts Leadline logged. Plain HTML, no auth (the sandbox's own people page has none either).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.hubspot.calls import PREFIX
from sandbox.hubspot.catalog import OBJECT_TYPES, resolve
from sandbox.hubspot.pages import page

if TYPE_CHECKING:
    from sandbox.hubspot.state import Portal
    from sandbox.state import SandboxState

TIMELINE = ("communications", "tasks", "notes")
BODY = {"communications": "hs_communication_body", "tasks": "hs_task_subject", "notes": "hs_note_body"}


def _title(object_type: str, values: dict[str, Any]) -> str:
    if object_type == "contacts":
        name = f"{values.get('firstname', '')} {values.get('lastname', '')}".strip()
        return name or values.get("email") or "(no name)"
    return values.get("name") or values.get("dealname") or values.get(BODY.get(object_type, ""), "") or object_type


def _link(portal: Portal, object_type: str, record_id: str) -> str:
    type_id = OBJECT_TYPES[object_type].type_id
    return f"{PREFIX}/contacts/{portal.portal_id}/record/{type_id}/{html.escape(record_id)}"


def _timeline(portal: Portal, object_type: str, record_id: str) -> str:
    items = []
    for kind in TIMELINE:
        for other_id, _ in portal.associations.of(object_type, record_id, kind, alive=portal.alive):
            found = portal.get(kind, other_id)
            if found is None:
                continue
            values = found["properties"]
            when = values.get("hs_timestamp") or found["createdAt"]
            channel = values.get("hs_communication_channel_type", kind[:-1])
            text = values.get(BODY[kind], "")
            items.append(
                (
                    when,
                    f"<li><b>{html.escape(channel)}</b> <span class=muted>{html.escape(when)}</span> "
                    f"{html.escape(text)}</li>",
                )
            )
    items.sort(reverse=True)
    return "".join(item for _, item in items) or "<li class=muted>Nothing yet.</li>"


def record_page(sandbox: SandboxState, request: Request, portal_id: str, type_id: str, record_id: str) -> Response:
    portal = sandbox.hubspot.portal(portal_id)
    kind = resolve(type_id)
    if portal is None or kind is None:
        return page("Not found", "<h1>This page doesn't exist</h1>", 404)
    record = portal.get(kind.name, record_id) or portal.get(kind.name, record_id, archived=True)
    if record is None:
        return page("Not found", f"<h1>This {html.escape(kind.singular)} doesn't exist</h1>", 404)
    values = record["properties"]
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
        for name, value in sorted(values.items())
    )
    linked = []
    for other in ("contacts", "companies", "deals"):
        for other_id, _ in portal.associations.of(kind.name, record_id, other, alive=portal.alive):
            found = portal.get(other, other_id)
            if found is not None:
                label = html.escape(_title(other, found["properties"]))
                linked.append(f'<li>{other[:-1]}: <a href="{_link(portal, other, other_id)}">{label}</a></li>')
    archived = " <span class=muted>(archived)</span>" if record.get("archived") else ""
    body = (
        f"<p class=muted>{html.escape(portal.name)} ({portal.portal_id}) &middot; {html.escape(kind.singular)} "
        f"{html.escape(record_id)}</p><h1>{html.escape(_title(kind.name, values))}{archived}</h1>"
        f"<h2>Timeline</h2><ul>{_timeline(portal, kind.name, record_id)}</ul>"
        f"<h2>Associations</h2><ul>{''.join(linked) or '<li class=muted>None.</li>'}</ul>"
        f"<h2>Properties</h2><table>{rows}</table>"
    )
    return page(f"{_title(kind.name, values)} | HubSpot (sandbox)", body)


ROUTES = [(f"{PREFIX}/contacts/<portal_id>/record/<type_id>/<record_id>", ["GET"], record_page)]
