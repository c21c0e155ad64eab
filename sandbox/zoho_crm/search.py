"""Search Records: `GET /crm/v8/{module}/search?criteria=|email=|phone=|word=` (crm-oas record.json).

- `phone`: every phone-type field of the module, compared by digits only: "(415) 555-0123" matches
  "415.555.0123" and "4155550123", but not "+14155550123" (the country code is a digit too). Zoho's exact
  phone matching is UNCONFIRMED; this strict reading makes a product that matches inbound numbers try the
  forms a person may have typed (or use COQL) rather than rely on a lenient fake.
- `email`: the module's email fields, case-insensitive, whole value. `word`: substring of any text field.
- `criteria`: `(Field:operator:value)` groups joined by `and` / `or`, brackets around every pair, at most 10
  conditions; operators equals, not_equal, starts_with, in, greater_than, greater_equal, less_than,
  less_equal, between; `\\(`, `\\)` and `\\,` escape. Text compares case-insensitively; lookups by id or name.
- `converted` as in Get Records (default false); `fields` optional (all fields when absent), ≤50; `page`,
  `per_page` ≤200, at most 2,000 records; 204 when nothing matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.http import json_response, no_content
from sandbox.state import SandboxState
from sandbox.zoho_crm.calls import crm_endpoint, invalid_module, param_error, render
from sandbox.zoho_crm.orgs import ZohoOrg
from sandbox.zoho_crm.records_read import converted_filter, parse_fields, read_scope

Predicate = Callable[[dict[str, Any]], bool]
OPERATORS = ("equals", "not_equal", "starts_with", "in", "greater_than", "greater_equal", "less_than", "less_equal")
OPERATORS += ("between",)
MAX_CONDITIONS = 10


class CriteriaError(ValueError):
    pass


def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _split_values(text: str) -> list[str]:
    return [_unescape(part).strip() for part in re.split(r"(?<!\\),", text)]


def _comparable(value: Any, other: str) -> tuple[Any, Any]:
    if isinstance(value, bool):
        return value, other.lower() == "true"
    if isinstance(value, int | float):
        return float(value), float(other)
    text = str(value)
    for parse in (datetime.fromisoformat, date.fromisoformat):
        try:
            return parse(text), parse(other)
        except ValueError:
            continue
    return text.lower(), other.lower()


def _matches(value: Any, operator: str, raw: str) -> bool:
    if isinstance(value, dict):
        return any(_matches(value.get(key), operator, raw) for key in ("id", "name") if value.get(key) is not None)
    if isinstance(value, list):
        return any(_matches(item.get("name") if isinstance(item, dict) else item, operator, raw) for item in value)
    if operator == "in":
        return any(_matches(value, "equals", option) for option in _split_values(raw))
    if operator == "between":
        low, _, high = raw.partition(",")
        return _matches(value, "greater_equal", low) and _matches(value, "less_equal", high)
    if value is None:
        return operator == "not_equal" and raw.lower() != "null"
    try:
        left, right = _comparable(value, _unescape(raw).strip())
    except (ValueError, TypeError):
        return False
    if operator == "equals":
        return left == right
    if operator == "not_equal":
        return left != right
    if operator == "starts_with":
        return str(left).startswith(str(right))
    try:
        return {
            "greater_than": lambda: left > right,
            "greater_equal": lambda: left >= right,
            "less_than": lambda: left < right,
            "less_equal": lambda: left <= right,
        }[operator]()
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str, known: set[str]) -> None:
        self.text, self.pos, self.known, self.conditions = text.strip(), 0, known, 0

    def parse(self) -> Predicate:
        predicate = self.expression()
        if self.pos != len(self.text):
            raise CriteriaError("trailing input")
        return predicate

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def expression(self) -> Predicate:
        left = self.group()
        while True:
            self._skip()
            match = re.match(r"(and|or)\b", self.text[self.pos :], re.IGNORECASE)
            if not match:
                return left
            self.pos += match.end()
            right = self.group()
            if match.group(1).lower() == "and":
                left = (lambda a, b: lambda record: a(record) and b(record))(left, right)
            else:
                left = (lambda a, b: lambda record: a(record) or b(record))(left, right)

    def group(self) -> Predicate:
        self._skip()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise CriteriaError("expected (")
        self.pos += 1
        self._skip()
        if self.text[self.pos : self.pos + 1] == "(":
            inner = self.expression()
        else:
            inner = self.condition()
        self._skip()
        if self.text[self.pos : self.pos + 1] != ")":
            raise CriteriaError("expected )")
        self.pos += 1
        return inner

    def condition(self) -> Predicate:
        match = re.compile(r"((?:\\.|[^()\\])*)").match(self.text, self.pos)
        body = match.group(1) if match else ""
        self.pos += len(body)
        field, _, rest = body.partition(":")
        operator, _, value = rest.partition(":")
        field, operator = field.strip(), operator.strip().lower()
        if field not in self.known or operator not in OPERATORS or not _:
            raise CriteriaError(f"bad condition {body!r}")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise CriteriaError("too many conditions")
        return lambda record: _matches(record.get(field), operator, value)


def _by_kind(org: ZohoOrg, module: str, kinds: tuple[str, ...]) -> list[str]:
    return [meta["api_name"] for meta in org.fields[module] if meta["data_type"] in kinds]


@crm_endpoint(scope=read_scope)
def search_records(sandbox: SandboxState, request: Request, org: ZohoOrg, user: dict, module: str) -> Response:
    store = org.module_named(module)
    if store is None:
        return invalid_module()
    name, args = store.module, request.args
    given = [key for key in ("criteria", "email", "phone", "word") if args.get(key)]
    if not given:
        return param_error(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            param_name=["criteria", "email", "phone", "word"],
        )
    fields = parse_fields(org, name, args.get("fields"), required=False)
    if isinstance(fields, Response):
        return fields
    keep = converted_filter(name, args.get("converted"))
    if isinstance(keep, Response):
        return keep
    try:
        page, per_page = int(args.get("page", 1)), int(args.get("per_page", 200))
    except ValueError:
        return param_error("INVALID_DATA", "invalid data", param_name="page")
    if page < 1 or not 1 <= per_page <= 200:
        return param_error("INVALID_DATA", "invalid data", param_name="per_page" if page >= 1 else "page")
    if page * per_page > 2000:
        return param_error("LIMIT_REACHED", "Record count exceeded", limit=2000)
    tests: list[Predicate] = []
    if args.get("criteria"):
        known = {meta["api_name"] for meta in org.fields[name]} | {"id"}
        try:
            tests.append(_Parser(args["criteria"], known).parse())
        except CriteriaError as exc:
            return param_error("INVALID_QUERY", "invalid query formed", api_name="criteria", reason=str(exc))
    if args.get("email"):
        wanted, emails = args["email"].strip().lower(), _by_kind(org, name, ("email",))
        tests.append(lambda record: any(str(record.get(f) or "").lower() == wanted for f in emails))
    if args.get("phone"):
        wanted_digits, phones = digits(args["phone"]), _by_kind(org, name, ("phone",))
        if not wanted_digits:
            return param_error("INVALID_DATA", "invalid data", param_name="phone")
        tests.append(lambda record: any(digits(record.get(f)) == wanted_digits for f in phones if record.get(f)))
    if args.get("word"):
        word, texts = args["word"].lower(), _by_kind(org, name, ("text", "email", "phone", "textarea", "website"))
        tests.append(lambda record: any(word in str(record.get(f) or "").lower() for f in texts))
    start, matches = (page - 1) * per_page, []
    with store.lock:
        for record in store.iter_by_id(descending=True):
            if keep(record) and all(test(record) for test in tests):
                matches.append(record)
                if len(matches) > start + per_page:
                    break
    chunk = matches[start : start + per_page]
    if not chunk:
        return no_content()
    info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": len(matches) > start + per_page}
    return json_response({"data": [render(org, name, record, fields) for record in chunk], "info": info})
