"""Helpers for the Twilio and Zoho Voice sandbox tests: a local webhook receiver and Twilio's OpenAPI schemas."""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.sandbox.openapi import specs_dir, specs_missing

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass
class Received:
    method: str
    url: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records every request and answers from a script.

    `answers[path]` is a list of (status, body, content type) used in turn (the last one repeats); the default
    is 200 with empty TwiML."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: dict[str, list[tuple[int, str, str]]] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def answer(self, path: str, *answers: tuple[int, str, str]) -> None:
        self.answers[path] = list(answers)

    def _app(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.requests.append(
                Received(
                    method=request.method,
                    url=request.url,
                    path=request.path,
                    form=request.form.to_dict(),
                    headers=dict(request.headers),
                    body=request.get_data(as_text=True),
                )
            )
            script = self.answers.get(request.path) or [(200, EMPTY_TWIML, "text/xml")]
            status, body, content_type = script.pop(0) if len(script) > 1 else script[0]
        return Response(body, status=status, content_type=content_type)(environ, start_response)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path) if path else list(self.requests)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests at {path or 'any path'}, got {len(found)}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` becomes JSON Schema's type union with null."""
    if isinstance(node, dict):
        node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
        if node.pop("nullable", False):
            if "type" in node:
                node["type"] = [node["type"], "null"]
            elif "$ref" in node:
                node = {"anyOf": [{"$ref": node.pop("$ref")}, {"type": "null"}], **node}
        return node
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    return node


def twilio_spec_path() -> Path:
    """Twilio's own OpenAPI file, where tests/sandbox/openapi.py finds the vendor specs: committed in
    docs/vendors/specs/twilio/, or where LEADLINE_VENDOR_SPECS points."""
    return specs_dir() / "twilio" / "twilio_api_v2010.json"


@functools.cache
def _twilio_schemas() -> dict[str, Any]:
    spec = json.loads(twilio_spec_path().read_text(encoding="utf-8"))
    schemas = dict(spec["components"]["schemas"])
    for path, name in (
        ("/2010-04-01/Accounts/{AccountSid}/Messages.json", "ListMessageResponse"),
        ("/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json", "ListIncomingPhoneNumberResponse"),
    ):
        schemas[name] = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return {"schemas": _nullable_to_json_schema(schemas)}


def validate_against_twilio_schema(instance: Any, schema_name: str, *, exact_keys: bool = True) -> None:
    """Validate with jsonschema against `#/components/schemas/<schema_name>` of Twilio's own OpenAPI file (patterns
    and enums included; only `nullable` is translated); with `exact_keys`, the instance has every property the
    schema names and no other. Skips when the spec is not there, as the other vendor-spec checks do."""
    if not twilio_spec_path().is_file():
        specs_missing("Twilio's OpenAPI file")
    components = _twilio_schemas()
    jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{schema_name}", "components": components}).validate(
        instance
    )
    if exact_keys:
        declared = set(components["schemas"][schema_name]["properties"])
        assert set(instance) == declared, set(instance) ^ declared
