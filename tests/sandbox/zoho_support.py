"""Helpers for the Zoho CRM sandbox tests (Bulk Read, notifications, workflow webhooks): tokens, records, a
local receiver for callbacks, and validation against Zoho's own OpenAPI files (zoho/crm-oas, v8.0)."""

from __future__ import annotations

import copy
import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jsonschema
import referencing
from referencing.jsonschema import DRAFT202012
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.sandbox.openapi import specs_dir, specs_missing

DEMO_REFRESH_TOKEN = "1000.demo.refresh-token"
CRM_OAS_BASE = "https://raw.githubusercontent.com/Zohocorp-Pvt-Ltd/crm-oas/refs/heads/main/v8.0/"
# Zoho's OpenAPI files are not committed (Zoho publishes them without a licence): `make vendor-specs` downloads
# them, pinned, to where tests/sandbox/openapi.py looks (docs/vendors/specs/zoho-crm-v8, or LEADLINE_VENDOR_SPECS),
# and missing specs skip the check on a developer's machine and fail it in CI.
SPEC_DIRS = (specs_dir() / "zoho-crm-v8",)


# --- tokens and records -------------------------------------------------------------------------------------
def access_token(server: Any, refresh: str = DEMO_REFRESH_TOKEN) -> str:
    accounts = server.state.accounts
    return accounts.issue_access_token(accounts.refresh_tokens[refresh]).token


def auth(server: Any) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {access_token(server)}"}


def demo_org(server: Any) -> Any:
    return next(iter(server.state.crm.orgs.values()))


def module_store(server: Any, module: str = "Leads") -> Any:
    """The org's store of a module (added with a few fields if the world lacks it). Not `org.module(m) or ...`:
    a RecordStore has __len__, so an empty one is falsy and would be replaced."""
    org = demo_org(server)
    store = org.module(module)
    if store is not None:
        return store
    return org.add_module(
        module,
        [
            {"api_name": "Last_Name", "data_type": "text", "json_type": "string"},
            {"api_name": "First_Name", "data_type": "text", "json_type": "string"},
            {"api_name": "Email", "data_type": "email", "json_type": "string"},
            {"api_name": "Phone", "data_type": "phone", "json_type": "string"},
            {"api_name": "Owner", "data_type": "ownerlookup", "json_type": "jsonobject"},
        ],
    )


def owner(server: Any) -> dict[str, Any]:
    org = demo_org(server)
    user = next(iter(org.users.values()))
    return {"full_name": user["full_name"], "id": user["id"], "email": user["email"]}


def freeze(server: Any, at: str = "2026-11-22T15:00:00+00:00") -> datetime:
    return server.state.clock.freeze(datetime.fromisoformat(at))


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


# --- a local receiver for callbacks and webhooks -------------------------------------------------------------
@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.text)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.text, keep_blank_values=True)


class Receiver:
    """An HTTP server on 127.0.0.1 (a free port) that records every request; `status[path]` sets the answer."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-receiver", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        received = Received(
            method=request.method,
            path=request.path,
            query={key: request.args.getlist(key) for key in request.args},
            headers=dict(request.headers),
            body=request.get_data(),
        )
        with self._lock:
            self.requests.append(received)
        status = self.status.get(request.path, 200)
        return Response("ok" if status < 400 else "nope", status=status)(environ, start_response)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [item for item in self.requests if item.path == path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Zoho's OpenAPI schemas -----------------------------------------------------------------------------------
# Where the OAS is stricter than Zoho's own documented samples, it is relaxed, each case named here:
RELAXED_REQUIRED = {
    # Zoho's job-details samples carry `result` only once COMPLETED, and echo only module and page in `query`.
    ("bulk_read.json", "Job_Detail"): {"result"},
    ("bulk_read.json", "Query"): {"cvid", "fields", "criteria", "file_type"},
    ("bulk_read.json", "Result"): {"next_page_token"},  # present only when more_records is true (v7 samples)
    ("bulk_read.json", "Criteria"): {"type"},
    # Zoho's own create/update samples list no notification_condition in details.events.
    ("notifications.json", "event"): {"notification_condition"},
}
EXTRA_ENUM = {("bulk_read.json", "Job_Detail", "state"): ["QUEUED"]}  # QUEUED is in Zoho's job-details samples
# Property schemas that contradict Zoho's own getNotifications sample (channel_id "1000000068001", a string;
# notification_condition None when there is none).
PROPERTY_OVERRIDES = {
    ("notifications.json", "Notification", "channel_id"): {"type": "string"},
    ("notifications.json", "Notification", "notification_condition"): {
        "anyOf": [{"type": "null"}, {"type": "array", "items": {"$ref": "#/components/schemas/notification_condition"}}]
    },
}


def spec_dir() -> Path | None:
    return next((path for path in SPEC_DIRS if (path / "bulk_read.json").is_file()), None)


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 to JSON Schema: `nullable` admits null, `oneOf` is read as `anyOf` (the OAS uses oneOf for
    alternatives that overlap), a `pattern` on URLs (notify_url's www.zoho.com placeholder) is dropped."""
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if result.pop("nullable", False) and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    if "oneOf" in result:
        result["anyOf"] = result.pop("oneOf")
    if "pattern" in result and "zoho" in str(result["pattern"]):
        del result["pattern"]
    return result


@functools.cache
def _registry() -> referencing.Registry | None:
    folder = spec_dir()
    if folder is None:
        return None
    registry = referencing.Registry()
    for path in folder.glob("*.json"):
        document = json.loads(path.read_text())
        schemas = document.get("components", {}).get("schemas", {})
        for (file_name, schema_name), names in RELAXED_REQUIRED.items():
            if file_name == path.name and schema_name in schemas:
                schema = schemas[schema_name]
                schema["required"] = [name for name in schema.get("required", []) if name not in names]
        for (file_name, schema_name, prop), values in EXTRA_ENUM.items():
            if file_name == path.name and schema_name in schemas:
                schemas[schema_name]["properties"][prop]["enum"] += values
        for (file_name, schema_name, prop), replacement in PROPERTY_OVERRIDES.items():
            if file_name == path.name and schema_name in schemas:
                schemas[schema_name]["properties"][prop] = replacement
        if path.name == "bulk_read.json":
            schemas["Criteria"]["properties"].pop("value", None)  # a criteria value is any JSON, not an object
        resource = referencing.Resource.from_contents(_openapi_to_json_schema(document), DRAFT202012)
        registry = registry.with_resource(CRM_OAS_BASE + path.name, resource)
    return registry


def assert_matches_schema(spec_file: str, schema_name: str | tuple[str, ...], instance: Any) -> None:
    """Validate `instance` against components/schemas/<schema_name> of Zoho's OAS file `spec_file` (any of them,
    when several names are given, as a response's oneOf lists them)."""
    registry = _registry()
    if registry is None:
        specs_missing("Zoho's OpenAPI files")
    names = (schema_name,) if isinstance(schema_name, str) else schema_name
    schema = {"anyOf": [{"$ref": f"{CRM_OAS_BASE}{spec_file}#/components/schemas/{name}"} for name in names]}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(copy.deepcopy(instance)), key=lambda error: list(error.path))
    assert not errors, "\n".join(_explain(error) for error in errors)


def _explain(error: jsonschema.ValidationError) -> str:
    """The deepest reasons, not "is not valid under any of the given schemas"."""
    leaves = [error]
    while any(leaf.context for leaf in leaves):
        leaves = [child for leaf in leaves for child in (leaf.context or [leaf])]
    return "; ".join(f"{list(leaf.absolute_path)}: {leaf.message[:200]}" for leaf in leaves)
