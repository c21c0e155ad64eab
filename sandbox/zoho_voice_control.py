"""The sandbox's control API for Zoho Voice (/_sandbox/voice/...): a lead texting a Voice number, log statuses
and times moved by a test, the fromDate zone setting, the Voice numbers. The vendor's API is sandbox/zoho_voice.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json
from sandbox.zoho_voice import VoiceNumber, to_e164

if TYPE_CHECKING:
    from sandbox.state import SandboxState


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def control_inbound(sandbox: SandboxState, request: Request) -> Response:
    """{"from": phone, "to": our Voice number, "message": text}: a lead texts a Voice number."""
    body = request_json(request) or {}
    from_, to = to_e164(str(body.get("from") or "")), to_e164(str(body.get("to") or ""))
    message = body.get("message")
    if from_ is None or not isinstance(message, str) or not message:
        return _bad("'from' (a phone number) and 'message' are required")
    if to not in sandbox.voice.numbers:
        return _bad(f"{body.get('to')!r} is not a Zoho Voice number of the sandbox", 404)
    return json_response(sandbox.voice.receive(from_=from_, to=to, message=message), 201)


def control_log_status(sandbox: SandboxState, request: Request, logid: str) -> Response:
    """{"status": "UNDELIVERED", "statusDescription"?}: change a log's status (and call its statusCallback)."""
    body = request_json(request) or {}
    status = body.get("status")
    if not isinstance(status, str) or not status:
        return _bad("'status' is required")
    if logid not in sandbox.voice.logs:
        return _bad(f"no log {logid}", 404)
    log, callback = sandbox.voice.set_status(logid, status.upper(), body.get("statusDescription"))
    return json_response({"log": log.as_json(), "delivery": sandbox.voice.notify(log, callback)})


def control_logs(sandbox: SandboxState, request: Request) -> Response:
    """Every log of every org, oldest first (no auth), optionally ?customer= &type=INCOMING|OUTGOING."""
    with sandbox.lock:
        found = sorted(sandbox.voice.logs.values(), key=lambda log: log.seq)
    customer = to_e164(request.args.get("customer") or "")
    if customer:
        found = [log for log in found if log.customer == customer]
    if request.args.get("type"):
        found = [log for log in found if log.message_type == request.args["type"].upper()]
    return json_response([log.as_json() | {"statusCallback": log.status_callback} for log in found])


def control_settings(sandbox: SandboxState, request: Request) -> Response:
    """{"from_date_zone": "Pacific/Honolulu" | null}: read the logs' fromDate/toDate in that zone (null: UTC)."""
    if request.method == "POST":
        body = request_json(request) or {}
        name = body.get("from_date_zone")
        try:
            zone = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            return _bad(f"{name!r} is not an IANA time zone")
        with sandbox.lock:
            sandbox.voice.from_date_zone = zone
    zone = sandbox.voice.from_date_zone
    return json_response({"from_date_zone": zone.key if zone else None})


def control_log_time(sandbox: SandboxState, request: Request, logid: str) -> Response:
    """{"submitted": ISO 8601 with offset}: move a log in time (a text sent before a test began)."""
    body = request_json(request) or {}
    try:
        submitted = datetime.fromisoformat(str(body.get("submitted") or ""))
    except ValueError:
        return _bad("'submitted' must be an ISO 8601 time")
    if submitted.tzinfo is None:
        return _bad("'submitted' needs a UTC offset")
    with sandbox.lock:
        log = sandbox.voice.logs.get(logid)
        if log is None:
            return _bad(f"no log {logid}", 404)
        log.submitted = submitted.astimezone(UTC)
    return json_response(log.as_json())


def control_numbers(sandbox: SandboxState, request: Request) -> Response:
    """GET: the Voice numbers. POST {"number", "org_id"?}: add one (default: the demo org)."""
    from sandbox import worlds

    if request.method == "POST":
        body = request_json(request) or {}
        number = to_e164(str(body.get("number") or ""))
        if number is None:
            return _bad("'number' must be a valid phone number")
        with sandbox.lock:
            sandbox.voice.numbers[number] = VoiceNumber(number, str(body.get("org_id") or worlds.DEMO_ZOHO_ORG_ID))
    with sandbox.lock:
        listed = [{"number": n.number, "org_id": n.org_id} for n in sandbox.voice.numbers.values()]
    return json_response(listed)


ROUTES = [
    ("/_sandbox/voice/inbound", ["POST"], control_inbound),
    ("/_sandbox/voice/logs", ["GET"], control_logs),
    ("/_sandbox/voice/logs/<logid>/status", ["POST"], control_log_status),
    ("/_sandbox/voice/logs/<logid>/time", ["POST"], control_log_time),
    ("/_sandbox/voice/settings", ["GET", "POST"], control_settings),
    ("/_sandbox/voice/numbers", ["GET", "POST"], control_numbers),
]
