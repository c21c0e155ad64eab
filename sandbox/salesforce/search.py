"""SOSL for finding people by phone: `GET search?q=FIND {4155550123} IN PHONE FIELDS RETURNING Lead(Id, Name,
Phone), Contact(Id, Name)` and `parameterizedSearch` (GET with `q`, `sobject`, `<sObject>.fields`,
`<sObject>.where`, `<sObject>.limit`, `in`; POST with the JSON body `{q, in, fields, sobjects: [{name, fields,
limit}], overallLimit}`).

Understood (REST API guide, "Search" and "Parameterized Search": developer.salesforce.com/docs/atlas.en-us.
api_rest.meta/api_rest/resources_search.htm and .../resources_search_parameterized.htm): `FIND {term}`,
`IN ALL|NAME|EMAIL|PHONE FIELDS`, `RETURNING` objects each with an optional `(fields [WHERE ...] [ORDER BY ...]
[LIMIT n])` (the part in parentheses is SOQL, checked and run by soql.py), an overall `LIMIT`. Answers
`{"searchRecords": [...]}` with `attributes`.

Matching: in phone fields the term's digits are compared with the stored value's digits whatever its format
("(415) 555-0123", "+1 415-555-0123", "415.555.0123"): one digit string must end with the other and the shorter
has at least 7 digits (so a missing or extra country code still matches; UNCONFIRMED for Salesforce's exact
rule, which the product refines by exact E.164 comparison). In other fields a term matches a word or phrase
case-insensitively, `*` matching any run of characters and `?` one. Rows in the Recycle Bin are never found.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.kit.http import json_response, request_json
from sandbox.salesforce import soql
from sandbox.salesforce.calls import sf_endpoint, sf_error
from sandbox.salesforce.query import OrgCatalog, Projector, compile_for
from sandbox.salesforce.state import is_live

if TYPE_CHECKING:
    from sandbox.salesforce.state import Session, SfOrg
    from sandbox.state import SandboxState

SEARCHABLE = ("Lead", "Contact", "Account", "Opportunity")  # searched when RETURNING names none
SCOPES = ("ALL", "NAME", "EMAIL", "PHONE")
MAX_RESULTS = 2000
MIN_PHONE_DIGITS = 7
NAME_FIELDS = ("Name", "FirstName", "LastName", "Company", "Title")
_FIND = re.compile(r"\s*FIND\s*\{((?:\\.|[^}\\])*)\}", re.IGNORECASE | re.DOTALL)
_RESERVED = set("?&|!{}[]()^~*:\\\"'+-")


class SoslError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _malformed(message: str) -> SoslError:
    return SoslError("MALFORMED_SEARCH", message)


def unescape(term: str) -> str:
    out, index = [], 0
    while index < len(term):
        if term[index] == "\\" and index + 1 < len(term):
            out.append(term[index + 1])
            index += 2
            continue
        out.append(term[index])
        index += 1
    return "".join(out).strip()


# --- parsing -------------------------------------------------------------------------------------------------
class Target:
    """One RETURNING object: its name and the SOQL that selects its rows (fields, WHERE, ORDER BY, LIMIT)."""

    def __init__(self, sobject: str, clause: str | None) -> None:
        self.sobject = sobject
        self.clause = clause  # "Id, Name WHERE ... LIMIT 5" or None (Id only)

    def soql(self) -> str:
        if not self.clause:
            return f"SELECT Id FROM {self.sobject}"  # noqa: S608 (SOQL for the emulator, not SQL)
        tokens = soql.tokenize(self.clause)
        cut = next(
            (
                token.position
                for token in tokens
                if token.kind == "keyword" and token.text in ("WHERE", "ORDER", "LIMIT")
            ),
            len(self.clause),
        )
        fields = self.clause[:cut].strip() or "Id"
        return f"SELECT {fields} FROM {self.sobject} {self.clause[cut:]}".strip()  # noqa: S608 (SOQL)


def parse_sosl(text: str) -> tuple[str, str, list[Target] | None, int | None]:
    """(term, scope, targets or None for every searchable object, overall limit)."""
    found = _FIND.match(text or "")
    if found is None:
        raise _malformed("unexpected token: the search must start with FIND {term}")
    term = unescape(found.group(1))
    rest = text[found.end() :]
    tokens = soql.tokenize(rest)
    index = 0
    scope = "ALL"

    def at(kind: str, word: str | None = None) -> bool:
        token = tokens[index]
        return token.kind == kind and (word is None or token.text.upper() == word)

    if at("keyword", "IN"):
        index += 1
        if not (tokens[index].kind == "ident" and tokens[index].text.upper() in SCOPES):
            raise _malformed(f"unexpected token: '{tokens[index].shown()}'")
        scope = tokens[index].text.upper()
        index += 1
        if not at("ident", "FIELDS"):
            raise _malformed(f"unexpected token: '{tokens[index].shown()}'")
        index += 1
    targets: list[Target] | None = None
    if at("ident", "RETURNING"):
        index += 1
        targets = []
        while True:
            if not at("ident"):
                raise _malformed(f"unexpected token: '{tokens[index].shown()}'")
            name = tokens[index].text
            index += 1
            clause = None
            if at("op", "("):
                depth, start = 0, tokens[index].position + 1
                while True:
                    token = tokens[index]
                    if token.kind == "eof":
                        raise _malformed("unexpected token: <EOF>")
                    if token.kind == "op" and token.text == "(":
                        depth += 1
                    elif token.kind == "op" and token.text == ")":
                        depth -= 1
                        if depth == 0:
                            clause = rest[start : token.position]
                            index += 1
                            break
                    index += 1
            targets.append(Target(name, clause))
            if not at("op", ","):
                break
            index += 1
    limit = None
    if at("keyword", "LIMIT"):
        index += 1
        if not at("number"):
            raise _malformed(f"unexpected token: '{tokens[index].shown()}'")
        limit = int(tokens[index].text)
        index += 1
    if not at("eof"):
        raise _malformed(f"unexpected token: '{tokens[index].shown()}'")
    return term, scope, targets, limit


# --- matching ------------------------------------------------------------------------------------------------
_NOT_DIGITS = re.compile(r"\D+")


@functools.lru_cache(maxsize=1 << 20)
def _digits_of(text: str) -> str:
    return _NOT_DIGITS.sub("", text)


def digits(value: Any) -> str:
    """The digits of a value (cached: a search reads every phone of every record, the same texts each time)."""
    return _digits_of(value) if isinstance(value, str) else _digits_of(str(value or ""))


def phone_matcher(term: str) -> Callable[[Any], bool]:
    wanted = digits(term)
    tail = wanted[-MIN_PHONE_DIGITS:]

    def matches(value: Any) -> bool:
        stored = digits(value)
        if len(stored) < MIN_PHONE_DIGITS or stored[-MIN_PHONE_DIGITS:] != tail:
            return False  # the common case, decided by the last seven digits
        return stored.endswith(wanted) or wanted.endswith(stored)

    return matches


def text_matcher(term: str) -> Callable[[Any], bool]:
    pattern = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in term.lower())
    compiled = re.compile(rf"(?<!\w){pattern}(?!\w)", re.IGNORECASE | re.DOTALL)
    return lambda value: value is not None and compiled.search(str(value)) is not None


def _fields_in_scope(fields: list[dict[str, Any]], scope: str) -> list[str]:
    if scope == "PHONE":
        return [meta["name"] for meta in fields if meta["type"] == "phone"]
    if scope == "EMAIL":
        return [meta["name"] for meta in fields if meta["type"] == "email"]
    if scope == "NAME":
        return [meta["name"] for meta in fields if meta["name"] in NAME_FIELDS]
    return [meta["name"] for meta in fields if meta["type"] in soql.TEXT_TYPES]


def _row_test(org: SfOrg, sobject: str, term: str, scope: str) -> Callable[[dict[str, Any]], bool]:
    schema = OrgCatalog(org).schema(sobject)
    fields = schema.fields if schema is not None else []
    phones = {meta["name"] for meta in fields if meta["type"] == "phone"}
    names = _fields_in_scope(fields, scope)
    phone_match, text_match = phone_matcher(term), text_matcher(term)
    looks_like_phone = len(digits(term)) >= MIN_PHONE_DIGITS
    if scope == "PHONE":
        if not looks_like_phone:
            return lambda record: False

        def phone_test(record: dict[str, Any]) -> bool:  # the phone lookup's hot loop: kept tight
            get = record.get
            for name in names:
                value = get(name)
                if value and phone_match(value):
                    return True
            return False

        return phone_test

    def test(record: dict[str, Any]) -> bool:
        for name in names:
            value = record.get(name)
            if value is None:
                continue
            if name in phones:
                if looks_like_phone and phone_match(value):
                    return True
                if scope != "PHONE" and text_match(value):
                    return True
            elif text_match(value):
                return True
        return False

    return test


def run_search(
    org: SfOrg, version: str, term: str, scope: str, targets: list[Target] | None, limit: int | None
) -> list[dict[str, Any]]:
    if len(term.replace("*", "").replace("?", "")) < 2:
        raise SoslError("INVALID_SEARCH", "search term must be longer than one character")
    chosen = targets if targets is not None else [Target(name, None) for name in SEARCHABLE if name in org.schema]
    overall = min(limit or MAX_RESULTS, MAX_RESULTS)
    found: list[dict[str, Any]] = []
    for target in chosen:
        text = target.soql()
        try:
            compiled = compile_for(org, text)
        except soql.SoqlError as error:
            code = "INVALID_TYPE" if error.code == "INVALID_TYPE" else error.code
            raise SoslError(code, error.message_for(text)) from None
        test = _row_test(org, compiled.entity.name, term, scope)
        rows = _found(org, compiled, test)
        projector = Projector(org, compiled, version)
        for row in rows:
            if len(found) >= overall:
                return found
            found.append(projector.row(row))
    return found


def _found(org: SfOrg, compiled: soql.Compiled, test: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The rows the search term matches, then the RETURNING clause's WHERE, order and LIMIT: the term is tested
    first, on every live record, so only its few matches are sorted."""
    store = org.store(compiled.entity.name)
    if store is None:
        return []
    compiled.keyset = None
    compiled.id_members = None
    with store.lock:
        return soql.run(compiled, store, visible=lambda record: is_live(record) and test(record))


# --- endpoints -----------------------------------------------------------------------------------------------
def _error(error: SoslError) -> Response:
    return sf_error(400, error.code, error.message)


@sf_endpoint()
def search(sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str) -> Response:
    text = request.args.get("q")
    if not text:
        return sf_error(400, "MALFORMED_SEARCH", "A search string has to be specified")
    try:
        term, scope, targets, limit = parse_sosl(text)
        records = run_search(org, version, term, scope, targets, limit)
    except SoslError as error:
        return _error(error)
    except soql.SoqlError as error:
        return sf_error(400, "MALFORMED_SEARCH", error.message_for(text))
    return json_response({"searchRecords": records})


def _clean_fields(value: Any) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value)
    return str(value) if value else None


@sf_endpoint()
def parameterized_search(
    sandbox: SandboxState, request: Request, org: SfOrg, session: Session, *, version: str
) -> Response:
    if request.method == "POST":
        body = request_json(request)
        if not isinstance(body, dict):
            return sf_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        term = str(body.get("q") or "")
        scope = str(body.get("in") or "ALL").upper()
        default_fields = _clean_fields(body.get("fields"))
        targets = []
        for spec in body.get("sobjects") or []:
            if not isinstance(spec, dict) or not spec.get("name"):
                return sf_error(400, "INVALID_INPUT", "Each sobjects entry needs a name")
            clause = _clean_fields(spec.get("fields")) or default_fields
            if clause and spec.get("limit"):
                clause = f"{clause} LIMIT {int(spec['limit'])}"
            targets.append(Target(str(spec["name"]), clause))
        limit = body.get("overallLimit")
    else:
        term = request.args.get("q", "")
        scope = request.args.get("in", "ALL").upper()
        default_fields = request.args.get("fields")
        names = [name for name in request.args.getlist("sobject") if name]
        targets = []
        for name in names:
            clause = request.args.get(f"{name}.fields") or default_fields or "Id"
            if request.args.get(f"{name}.where"):
                clause += f" WHERE {request.args[f'{name}.where']}"
            if request.args.get(f"{name}.limit"):
                clause += f" LIMIT {int(request.args[f'{name}.limit'])}"
            targets.append(Target(name, clause))
        limit = request.args.get("overallLimit")
    if scope not in SCOPES:
        return sf_error(400, "INVALID_SEARCH_SCOPE", f"in must be one of {', '.join(SCOPES)}")
    if not term:
        return sf_error(400, "MISSING_ARGUMENT", "q parameter must be specified")
    try:
        records = run_search(org, version, term, scope, targets or None, int(limit) if limit else None)
    except SoslError as error:
        return _error(error)
    except (soql.SoqlError, ValueError) as error:
        return sf_error(400, "INVALID_INPUT", str(error))
    return json_response({"searchRecords": records})


ROUTES = [
    ("/services/data/v<version>/search", ["GET"], search),
    ("/services/data/v<version>/parameterizedSearch", ["GET", "POST"], parameterized_search),
]
