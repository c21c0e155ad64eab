"""A Dynamics 365 record's page, as far as development needs it: `GET /dynamics/<env>/main.aspx?etn=<table>&id=
<guid>&pagetype=entityrecord` (the link the product makes to a record). Like a model-driven app form it shows the
record's columns, its timeline (tasks and text message activities regarding it, newest first) and, where a
customer places Leadline's widget on the form, an iframe framing the widget with the record passed the way a form's
iframe passes it (`typename=<table>&id={<GUID>}&orgname=<org>`, crm/providers/dynamics/embed.py) at the product's
URL (the sandbox's product_base_url). Plain HTML, no sign-in (the sandbox's people page has none either)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from sandbox.dynamics.shapes import formatted_value, json_value, lookup_name

if TYPE_CHECKING:
    from sandbox.dynamics.state import Environment, Row, Table
    from sandbox.state import SandboxState

TIMELINE = ("task", "lh_sms")
WIDGET_PATH = "/app/"
UNAVAILABLE = (
    "<main><section><h1>Record Is Unavailable</h1><p>The requested record was not found or you do not have "
    "sufficient permissions to view it.</p></section></main>"
)

_LOOK = (
    "body{font-family:'Segoe UI',system-ui,sans-serif;margin:0;color:#242424;background:#f3f2f1}"
    "header{background:#002050;color:#fff;padding:.6rem 1.2rem;font-size:.95rem}"
    "main{display:flex;gap:1rem;padding:1rem 1.2rem}section{background:#fff;padding:1rem;border-radius:4px}"
    ".form{flex:2}.side{flex:1;min-width:22rem}table{border-collapse:collapse;width:100%}"
    "td,th{border-bottom:1px solid #edebe9;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    ".muted{color:#605e5c}li{margin:.35rem 0}iframe{width:100%;height:640px;border:1px solid #edebe9}"
)


def page(title: str, body: str, status: int = 200) -> Response:
    """`body` is HTML escaped by the caller."""
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_LOOK}</style></head><body>{body}</body></html>"
    )
    return Response(text, status=status, mimetype="text/html")


def _display(environment: Environment, table: Table, name: str, row: Row) -> str:
    attribute = table.attributes[name]
    value = row.get(name)
    if value is None:
        return ""
    if attribute.is_lookup:
        target = row.get(f"{name}@table") or (attribute.targets[0] if attribute.targets else "")
        label = lookup_name(environment, target, value) or value
        return f'<a href="main.aspx?etn={html.escape(target)}&id={html.escape(value)}&pagetype=entityrecord">' + (
            f"{html.escape(str(label))}</a>"
        )
    label = formatted_value(attribute, value)
    return html.escape(str(label if label is not None else json_value(value)))


def _timeline(environment: Environment, record_id: str) -> str:
    items: list[tuple[str, str]] = []
    for name in TIMELINE:
        activities = environment.table(name)
        if activities is None:
            continue
        for row in activities.rows.values():
            if row.get("regardingobjectid") != record_id:
                continue
            when = json_value(row.get("modifiedon") or row.get("createdon")) or ""
            state = formatted_value(activities.attributes["statecode"], row.get("statecode")) or ""
            text = row.get("description") or ""
            items.append(
                (
                    str(when),
                    f"<li><b>{html.escape(activities.display_name or name)}</b> "
                    f"<span class=muted>{html.escape(str(when))} &middot; {html.escape(state)}</span><br>"
                    f"{html.escape(row.get('subject') or '')}"
                    + (f"<br><span class=muted>{html.escape(text)}</span>" if text else "")
                    + "</li>",
                )
            )
    items.sort(reverse=True)
    return "".join(item for _, item in items) or "<li class=muted>No activities yet.</li>"


def widget_url(sandbox: SandboxState, environment: Environment, table: str, record_id: str) -> str:
    """Where the form's iframe points: the product's widget with the record as Dynamics appends it."""
    base = str(sandbox.config.product_base_url).rstrip("/")
    query = urlencode(
        {"crm": "dynamics", "typename": table, "id": "{" + record_id.upper() + "}", "orgname": environment.name}
    )
    return f"{base}{WIDGET_PATH}?{query}"


def record_page(sandbox: SandboxState, request: Request, env: str) -> Response:
    environment = sandbox.dynamics.environment(env)
    if environment is None:
        return page("Not found", "<main><section><h1>This environment doesn't exist</h1></section></main>", 404)
    table = environment.table(request.args.get("etn", ""))
    record_id = (request.args.get("id") or "").strip("{}").lower()
    row: dict[str, Any] | None = environment.row(table.logical_name, record_id) if table else None
    if table is None or row is None:
        body = "<main><section><h1>Record Is Unavailable</h1><p>The requested record was not found or you do not"
        return page(
            "Record Is Unavailable", body + " have sufficient permissions to view it.</p></section></main>", 404
        )
    title = row.get(table.primary_name) or f"(no {table.primary_name})"
    columns = "".join(
        f"<tr><th>{html.escape(attribute.display_name or name)} <span class=muted>({html.escape(name)})</span></th>"
        f"<td>{_display(environment, table, name, row)}</td></tr>"
        for name, attribute in table.attributes.items()
        if attribute.valid_for_read and row.get(name) is not None
    )
    frame = ""
    if table.logical_name in ("lead", "contact", "account", "opportunity"):
        src = html.escape(widget_url(sandbox, environment, table.logical_name, row[table.primary_id]))
        frame = f'<section class=side><h2>Leadline</h2><iframe title="Leadline" src="{src}"></iframe></section>'
    body = (
        f"<header>Dynamics 365 &middot; {html.escape(environment.organization_name)} (sandbox)</header><main>"
        f"<section class=form><p class=muted>{html.escape(table.display_name or table.logical_name)}</p>"
        f"<h1>{html.escape(str(title))}</h1><h2>Timeline</h2><ul>{_timeline(environment, row[table.primary_id])}</ul>"
        f"<h2>Columns</h2><table>{columns}</table></section>{frame}</main>"
    )
    return page(f"{title} - Dynamics 365 (sandbox)", body)


ROUTES = [("/dynamics/<env>/main.aspx", ["GET"], record_page)]
