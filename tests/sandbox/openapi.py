"""Checking sandbox answers against the vendors' own OpenAPI files (docs/vendors/specs/), for any suite.

    from tests.sandbox.openapi import assert_matches_openapi, assert_matches_schema
    assert_matches_openapi("zoho-crm-v8/record.json", "/crm/v8/{module_api_name}", "get", 200, body)
    assert_matches_schema("zoho-crm-v8/users.json", "Minified_User", owner)

The specs are read as their authors meant them, with these deliberate readings (each one forced by the
vendor's own examples contradicting its schema):
- OpenAPI 3.0 `nullable: true` becomes a JSON-Schema union with null.
- `oneOf` is read as `anyOf`: Zoho's branches overlap (a records page matches both Response_Wrapper and
  API_Exception, neither has `required`), so `oneOf` would reject every correct answer. To keep `anyOf`
  meaningful, an answer is checked only against the branches that declare every one of its top-level keys
  (a page `{data, info}` against Response_Wrapper, an error `{code, details, message, status}` against
  API_Exception).
- `pattern` is dropped: Zoho's are generated from sample data (`email` must match `[a-z0-9]{9}[@][a-z0-9]{5}[.]com`).
- Any property may be null: Zoho writes absent values as null, and its own examples answer null for
  properties the schema types as strings or objects (getRecords' `previous_page_token`, getFields'
  `associated_module` and `tooltip`, getDeletedRecords' `deleted_by`). Non-null values are still typed.
- References to files the project does not keep (tags.json, layouts.json, ...) accept anything.
- A status the operation does not list falls back to "200" (Zoho's record.json lists only 200, even for the
  201/207/400 answers its examples show), then "default".
The specs are committed in docs/vendors/specs/ (or where LEADLINE_VENDOR_SPECS points; origin, commit and hashes in
docs/vendors/specs/README.md).
The tests that need a missing file are skipped, saying why (failed under CI=true).
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

ZOHO_BASE = "https://raw.githubusercontent.com/Zohocorp-Pvt-Ltd/crm-oas/refs/heads/main/v8.0/"


def specs_dir() -> Path:
    """Where the vendors' OpenAPI files are: LEADLINE_VENDOR_SPECS, or docs/vendors/specs in the repository."""
    configured = os.environ.get("LEADLINE_VENDOR_SPECS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "docs" / "vendors" / "specs"


def specs_missing(what: str) -> None:
    """Without the specs, a developer's run skips the shape checks, saying why; CI (CI=true) fails instead,
    because a green CI must mean the emulator was checked against the vendors' own files."""
    message = f"{what} not found under {specs_dir()} (run `make vendor-specs`, or set LEADLINE_VENDOR_SPECS)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def _require_specs(spec_file: str | None = None) -> Path:
    folder = specs_dir()
    if not folder.is_dir():
        specs_missing("the vendor OpenAPI files")
    if spec_file is not None and not (folder / spec_file).is_file():
        specs_missing(spec_file)
    return folder


def _relax(node: Any, *, property_value: bool = False) -> Any:
    """OpenAPI 3.0 schema → JSON Schema 2020-12, with the readings described in the module docstring."""
    if isinstance(node, list):
        return [_relax(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" or key in ("nullable", "example", "examples", "xml", "discriminator"):
            continue
        if key == "properties" and isinstance(value, dict):
            result[key] = {name: _relax(schema, property_value=True) for name, schema in value.items()}
        elif key == "oneOf":
            result["anyOf"] = _relax(value)
        else:
            result[key] = _relax(value)
    if node.get("nullable") is True:
        kind = result.get("type")
        if isinstance(kind, str):
            result["type"] = [kind, "null"]
        if "enum" in result:
            result["enum"] = [*result["enum"], None]
    if property_value:
        return {"anyOf": [result, {"type": "null"}]}
    return result


def _document_uri(path: Path, folder: Path) -> str:
    relative = path.relative_to(folder).as_posix()
    if relative.startswith("zoho-crm-v8/"):
        return ZOHO_BASE + relative.removeprefix("zoho-crm-v8/")
    return f"urn:leadline-spec:{relative}"


@functools.cache
def _registry(folder: str) -> tuple[Registry, dict[str, str]]:
    base = Path(folder)
    resources: dict[str, Resource] = {}
    uris: dict[str, str] = {}
    for path in sorted(base.glob("**/*.json")):
        uri = _document_uri(path, base)
        uris[path.relative_to(base).as_posix()] = uri
        contents = _relax(json.loads(path.read_text(encoding="utf-8")))
        resources[uri] = DRAFT202012.create_resource(contents)

    def retrieve(uri: str) -> Resource:
        if uri.startswith(ZOHO_BASE):  # a Zoho file the project does not keep: accept anything
            return DRAFT202012.create_resource({})
        raise NoSuchResource(ref=uri)

    registry = Registry(retrieve=retrieve).with_resources(resources.items())
    return registry, uris


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _errors(validator: Draft202012Validator, body: Any) -> list[str]:
    found = []
    for error in validator.iter_errors(body):
        deepest = error
        while deepest.context:  # the most specific reason, ignoring the "or null" branches
            useful = [item for item in deepest.context if item.schema != {"type": "null"}] or deepest.context
            deepest = max(useful, key=lambda item: len(item.absolute_path))
        found.append(f"- at {list(deepest.absolute_path)}: {deepest.message[:300]}")
    return found


def _declares_every_key(schema: dict[str, Any], resolver: Any, body: Any) -> bool:
    """Whether a branch names every top-level key of the body (how a reader tells a page from an error)."""
    while "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        schema, resolver = resolved.contents, resolved.resolver
    properties = schema.get("properties")
    return not isinstance(body, dict) or properties is None or set(body) <= set(properties)


def _validate(spec_file: str, pointer: str, body: Any) -> None:
    folder = _require_specs(spec_file)
    registry, uris = _registry(str(folder))
    uri = uris.get(spec_file)
    if uri is None:
        raise AssertionError(f"no spec {spec_file} in {folder}")
    resolved = registry.resolver().lookup(f"{uri}#{pointer}")
    branches = resolved.contents.get("anyOf") if isinstance(resolved.contents, dict) else None
    candidates = [branch for branch in branches or [] if _declares_every_key(branch, resolved.resolver, body)] or [
        {"$ref": f"{uri}#{pointer}"}
    ]
    problems: list[str] = []
    for branch in candidates:
        schema = {"$ref": f"{uri}#{pointer}"} if branches is None else {"$ref": _absolute(branch, uri, pointer)}
        errors = _errors(Draft202012Validator(schema, registry=registry), body)
        if not errors:
            return
        problems.extend(errors)
    raise AssertionError(f"answer does not match {spec_file}#{pointer}:\n" + "\n".join(problems[:10]))


def _absolute(branch: dict[str, Any], uri: str, pointer: str) -> str:
    ref = branch.get("$ref")
    if ref is None:  # an inline branch: validate it where it stands
        index = next(i for i, item in enumerate(_branches_at(uri, pointer)) if item is branch)
        return f"{uri}#{pointer}/anyOf/{index}"
    return ref if "://" in ref or ref.startswith("urn:") else f"{uri}{ref}"


def _branches_at(uri: str, pointer: str) -> list[Any]:
    registry, _ = _registry(str(_require_specs()))
    return registry.resolver().lookup(f"{uri}#{pointer}").contents["anyOf"]


@functools.cache
def _raw(folder: str, spec_file: str) -> dict[str, Any]:
    return json.loads((Path(folder) / spec_file).read_text(encoding="utf-8"))


def response_schema_pointer(spec_file: str, path: str, method: str, status: int) -> str:
    spec = _raw(str(_require_specs(spec_file)), spec_file)
    operation = spec["paths"][path][method.lower()]
    responses = operation["responses"]
    key = next((candidate for candidate in (str(status), "200", "default") if candidate in responses), None)
    if key is None:
        raise AssertionError(f"{method.upper()} {path} in {spec_file} lists no response for {status}")
    response = responses[key]
    parts = ["paths", path, method.lower(), "responses", key]
    if "$ref" in response:
        parts = response["$ref"].removeprefix("#/").split("/")
        response = copy.deepcopy(spec)
        for part in parts:
            response = response[part]
    if "content" not in response:
        raise AssertionError(f"{method.upper()} {path} answers {key} with no body in {spec_file}")
    return _pointer(*parts, "content", "application/json", "schema")


def assert_matches_openapi(spec_file: str, path: str, method: str, status: int, body: Any) -> None:
    """The body matches the response schema the spec gives this operation and status."""
    _validate(spec_file, response_schema_pointer(spec_file, path, method, status), body)


def assert_matches_schema(spec_file: str, schema_name: str, value: Any) -> None:
    """The value matches one of the spec's component schemas."""
    _validate(spec_file, _pointer("components", "schemas", schema_name), value)
