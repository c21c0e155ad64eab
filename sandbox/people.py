"""Small read endpoints for the page for people: which numbers a phone can text, and who can own a lead.
Texting and reading a phone's messages use /_sandbox/twilio/phones/... (both providers)."""

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response
from sandbox.state import SandboxState


def numbers(sandbox: SandboxState, request: Request) -> Response:
    with sandbox.lock:
        listed = [{"number": n, "provider": "twilio"} for n in sorted(sandbox.twilio.numbers)]
        listed += [{"number": n, "provider": "zoho_voice"} for n in sorted(sandbox.voice.numbers)]
    return json_response(listed)


def users(sandbox: SandboxState, request: Request) -> Response:
    org = next(iter(sandbox.crm.orgs.values()), None)
    if org is None:
        return json_response([])
    return json_response(
        [{"id": u["id"], "full_name": u.get("full_name") or u.get("email")} for u in org.users.values()]
    )


ROUTES = [
    ("/_sandbox/people/numbers", ["GET"], numbers),
    ("/_sandbox/people/users", ["GET"], users),
]
