"""The control API under /_sandbox/: reset, settings, clock, faults, counters and what the sandbox sent.

Vendor-specific controls (seed records, create a lead, text a studio from a phone, read sent messages) live
beside their vendor: /_sandbox/zoho/... in sandbox/zoho_crm/control.py, /_sandbox/twilio/... in
sandbox/twilio/api.py, /_sandbox/voice/... in sandbox/zoho_voice_control.py.
"""

from __future__ import annotations

from datetime import datetime

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, request_json
from sandbox.state import SandboxState


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


def health(sandbox: SandboxState, request: Request) -> Response:
    return json_response(
        {"status": "ok", "world": sandbox.world, "seed": sandbox.seed, "now": sandbox.clock.now().isoformat()}
    )


def reset(sandbox: SandboxState, request: Request) -> Response:
    body = request_json(request) or {}
    try:
        sandbox.reset(
            seed=body.get("seed"), world=body.get("world"), leads=int(body.get("leads", 200)), config=body.get("config")
        )
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return health(sandbox, request)


def config(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "PATCH":
        try:
            sandbox.config.update(request_json(request) or {})
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
    return json_response(sandbox.config.as_dict())


def counters(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "DELETE":
        sandbox.counters.clear()
    return json_response(dict(sorted(sandbox.counters.items())))


def faults(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "POST":
        spec = request_json(request)
        specs = spec if isinstance(spec, list) else [spec]
        try:
            for item in specs:
                sandbox.faults.add(**(item or {}))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
    elif request.method == "DELETE":
        sandbox.faults.clear()
    return json_response(sandbox.faults.list())


def clock(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "POST":
        body = request_json(request) or {}
        if "advance_seconds" in body:
            sandbox.clock.advance(float(body["advance_seconds"]))
        if "freeze_at" in body:
            sandbox.clock.freeze(datetime.fromisoformat(body["freeze_at"]) if body["freeze_at"] else None)
        if body.get("unfreeze"):
            sandbox.clock.unfreeze()
    return json_response({"now": sandbox.clock.now().isoformat()})


def outbox(sandbox: SandboxState, request: Request) -> Response:
    if request.method == "DELETE":
        sandbox.outbox.clear()
        return json_response([])
    return json_response(sandbox.outbox.list(kind=request.args.get("kind")))


ROUTES = [
    ("/_sandbox/health", ["GET"], health),
    ("/_sandbox/reset", ["POST"], reset),
    ("/_sandbox/config", ["GET", "PATCH"], config),
    ("/_sandbox/counters", ["GET", "DELETE"], counters),
    ("/_sandbox/faults", ["GET", "POST", "DELETE"], faults),
    ("/_sandbox/clock", ["GET", "POST"], clock),
    ("/_sandbox/outbox", ["GET", "DELETE"], outbox),
]
