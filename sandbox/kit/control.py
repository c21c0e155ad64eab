"""The control API every emulator shares, under /_sandbox/: health, reset, settings, counters, faults, the
clock and the outbox. Plain JSON (not any vendor's shapes); bad input answers 400 {"error": ...}.

- `GET /_sandbox/health`: {status, world, seed, now}.
- `POST /_sandbox/reset {seed?, world?, config?, ...}`: a fresh world (the state's `reset_options` take the rest).
- `GET|PATCH /_sandbox/config`: the settings; PATCH changes some of them.
- `GET|DELETE /_sandbox/counters`: calls per endpoint, `fault:<path>` per injected failure, vendor tallies.
- `GET|POST|DELETE /_sandbox/faults`: the scheduled faults (faults.py); POST takes one rule or a list.
- `GET|POST /_sandbox/clock {advance_seconds?, freeze_at?, unfreeze?}`: read or move the clock.
- `GET|DELETE /_sandbox/outbox?kind=`: what the emulator sent to the product.

A vendor's own controls (seed records, act as a person in the vendor's UI) live beside the vendor, under
/_sandbox/<vendor>/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, request_json
from sandbox.kit.world import EmulatorState


def _bad(message: str) -> Response:
    return json_response({"error": message}, 400)


def health(sandbox: EmulatorState, request: Request) -> Response:
    return json_response(
        {"status": "ok", "world": sandbox.world, "seed": sandbox.seed, "now": sandbox.clock.now().isoformat()}
    )


def reset(sandbox: EmulatorState, request: Request) -> Response:
    body: Any = request_json(request) or {}
    if not isinstance(body, dict):
        return _bad("the body is a JSON object")
    try:
        options = sandbox.reset_options(body)
        sandbox.reset(seed=body.get("seed"), world=body.get("world"), config=body.get("config"), **options)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return health(sandbox, request)


def config(sandbox: EmulatorState, request: Request) -> Response:
    if request.method == "PATCH":
        try:
            sandbox.config.update(request_json(request) or {})
        except (ValueError, TypeError, AttributeError) as exc:
            return _bad(str(exc))
    return json_response(sandbox.config.as_dict())


def counters(sandbox: EmulatorState, request: Request) -> Response:
    if request.method == "DELETE":
        sandbox.counters.clear()
    return json_response(dict(sorted(sandbox.counters.items())))


def faults(sandbox: EmulatorState, request: Request) -> Response:
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


def clock(sandbox: EmulatorState, request: Request) -> Response:
    if request.method == "POST":
        body = request_json(request) or {}
        try:
            if "advance_seconds" in body:
                sandbox.clock.advance(float(body["advance_seconds"]))
            if "freeze_at" in body:
                sandbox.clock.freeze(datetime.fromisoformat(body["freeze_at"]) if body["freeze_at"] else None)
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        if body.get("unfreeze"):
            sandbox.clock.unfreeze()
    return json_response({"now": sandbox.clock.now().isoformat()})


def outbox(sandbox: EmulatorState, request: Request) -> Response:
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
