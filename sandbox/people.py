"""Small read endpoints for the page for people: which numbers a phone can text, which CRMs it can add a lead to,
and who can own a lead there. Texting and reading a phone's messages use /_sandbox/twilio/phones/... (both
providers); leads and tasks are read and written through each CRM's own control API."""

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response
from sandbox.state import SandboxState


def numbers(sandbox: SandboxState, request: Request) -> Response:
    with sandbox.lock:
        listed = [{"number": n, "provider": "twilio"} for n in sorted(sandbox.twilio.numbers)]
        listed += [{"number": n, "provider": "zoho_voice"} for n in sorted(sandbox.voice.numbers)]
    return json_response(listed)


def crms(sandbox: SandboxState, request: Request) -> Response:
    """The demo CRMs a lead can be added to: Zoho's first org and Salesforce's first org."""
    listed = []
    zoho = next(iter(sandbox.crm.orgs.values()), None)
    if zoho is not None:
        listed.append({"kind": "zoho", "org_id": zoho.org_id, "label": f"Zoho CRM: {zoho.name}"})
    salesforce = next(iter(sandbox.salesforce.orgs.values()), None)
    if salesforce is not None:
        listed.append({"kind": "salesforce", "org_id": salesforce.org_id, "label": f"Salesforce: {salesforce.name}"})
    return json_response(listed)


def users(sandbox: SandboxState, request: Request) -> Response:
    if request.args.get("crm") == "salesforce":
        org = next(iter(sandbox.salesforce.orgs.values()), None)
        if org is None:
            return json_response([])
        return json_response([{"id": u["Id"], "full_name": u["Name"]} for u in org.users.values()])
    zoho = next(iter(sandbox.crm.orgs.values()), None)
    if zoho is None:
        return json_response([])
    return json_response(
        [{"id": u["id"], "full_name": u.get("full_name") or u.get("email")} for u in zoho.users.values()]
    )


ROUTES = [
    ("/_sandbox/people/numbers", ["GET"], numbers),
    ("/_sandbox/people/crms", ["GET"], crms),
    ("/_sandbox/people/users", ["GET"], users),
]
