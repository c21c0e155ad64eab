"""SOQL as the emulator understands it: a tokenizer, a recursive-descent parser to an AST, a compiler that checks
the AST against an sObject's describe metadata and turns it into Python predicates, sort keys and projections,
and a runner that reads a `RecordStore` through its sorted indexes when the query allows.

What is understood (docs/vendors/salesforce.md, SOQL query and query locators):
- `SELECT` fields, `COUNT()`, relationship fields through a lookup (`Owner.Name`, `ConvertedContact.Email`),
  compound fields (`Address`, shown as an object);
- `FROM` one sObject;
- `WHERE` with `AND`, `OR`, `NOT` and parentheses (AND and OR are not mixed at one level without parentheses,
  as Salesforce refuses), `= != <> < <= > >=`, `IN (...)`, `NOT IN (...)`, `LIKE` (`%`, `_`, case-insensitive);
- literals: 'strings' with backslash escapes, numbers, `true`/`false`/`null`, datetimes
  (`2026-12-07T14:03:56Z`, `+hh:mm`/`-hh:mm`, fractional seconds; `+hhmm` is also taken, UNCONFIRMED), dates
  (`2026-12-07`), date literals `TODAY`, `YESTERDAY`, `TOMORROW`, `LAST_N_DAYS:n`, `NEXT_N_DAYS:n`;
- `ORDER BY` several keys, `ASC`/`DESC`, `NULLS FIRST`/`NULLS LAST` (nulls first ascending, last descending by
  default); text sorts without regard to case;
- `LIMIT`, `OFFSET` (at most 2,000: NUMBER_OUTSIDE_VALID_RANGE).

Semantics: text comparisons ignore case; `!=` and `NOT IN` match nulls (SOQL's null is a value); ids given with
15 characters match their 18-character form. Errors carry Salesforce's codes and messages with the query line,
a caret and `ERROR at Row:1:Column:n`, as the REST API shows them.

The metadata is the describe shape (`{"name", "fields": [{"name", "type", "relationshipName", "referenceTo",
...}]}`), so this module needs nothing but a way to find an sObject's describe and a record by id (`Catalog`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sandbox.salesforce.ids import normalize

Record = dict[str, Any]
MAX_OFFSET = 2000

# --- errors --------------------------------------------------------------------------------------------------


class SoqlError(Exception):
    """A query Salesforce refuses: `code` (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, ...) and the message as
    the API words it (with the query line and a caret when `position` is known)."""

    def __init__(self, code: str, message: str, position: int | None = None, *, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.detail = message
        self.position = position
        self.status = status

    def message_for(self, soql: str) -> str:
        if self.position is None:
            return self.detail
        line_start = soql.rfind("\n", 0, self.position) + 1
        line_end = soql.find("\n", self.position)
        line = soql[line_start : line_end if line_end >= 0 else len(soql)]
        row = soql.count("\n", 0, self.position) + 1
        column = self.position - line_start + 1
        return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{self.detail}"


def _malformed(detail: str, position: int | None) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", detail, position)


def no_such_column(name: str, entity: str, position: int | None) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names.",
        position,
    )


def unsupported_type(name: str, position: int | None) -> SoqlError:
    return SoqlError(
        "INVALID_TYPE",
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append "
        "the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate "
        "names.",
        position,
    )


def _no_such_relation(name: str, entity: str, position: int | None) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
        "relationship, be sure to append the '__r' after the custom relationship name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
        position,
    )


# --- tokens --------------------------------------------------------------------------------------------------

KEYWORDS = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
        "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "INCLUDES", "EXCLUDES", "GROUP", "HAVING",
        "WITH", "FOR",
    }
)  # fmt: skip
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
DATE_N_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})

_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:T])")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?![\w])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ",", ".", ":")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
LIKE_ANY, LIKE_ONE = "\x00%", "\x00_"  # LIKE wildcards (an escaped \% or \_ stays a plain character)


@dataclass(frozen=True)
class Token:
    kind: str  # ident | keyword | string | number | datetime | date | op | eof
    text: str  # the source text (a keyword upper-cased; a string's value unescaped, LIKE wildcards marked)
    position: int

    def shown(self) -> str:
        return "<EOF>" if self.kind == "eof" else self.text


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    index, size = 0, len(soql)
    while index < size:
        char = soql[index]
        if char.isspace():
            index += 1
            continue
        if char == "'":
            text, index = _string(soql, index)
            tokens.append(Token("string", text, index))
            continue
        if char.isdigit() or (char == "-" and index + 1 < size and soql[index + 1].isdigit()):
            for kind, pattern in (("datetime", _DATETIME), ("date", _DATE), ("number", _NUMBER)):
                found = pattern.match(soql, index)
                if found:
                    tokens.append(Token(kind, found.group(), index))
                    index = found.end()
                    break
            else:
                raise _malformed(f"unexpected token: '{_word_at(soql, index)}'", index)
            continue
        found = _IDENT.match(soql, index)
        if found:
            word = found.group()
            upper = word.upper()
            tokens.append(Token("keyword", upper, index) if upper in KEYWORDS else Token("ident", word, index))
            index = found.end()
            continue
        for operator in _OPERATORS:
            if soql.startswith(operator, index):
                tokens.append(Token("op", operator, index))
                index += len(operator)
                break
        else:
            raise _malformed(f"unexpected token: '{char}'", index)
    tokens.append(Token("eof", "", size))
    return tokens


def _string(soql: str, start: int) -> tuple[str, int]:
    """A quoted string from `start` (the opening quote): its value and the index past the closing quote."""
    parts: list[str] = []
    index = start + 1
    while index < len(soql):
        char = soql[index]
        if char == "'":
            return "".join(parts), index + 1
        if char == "\\":
            if index + 1 >= len(soql):
                break
            escaped = soql[index + 1]
            if escaped in _ESCAPES:
                parts.append(_ESCAPES[escaped])
            elif escaped in "%_":
                parts.append(escaped)  # a literal % or _ even inside LIKE
            else:
                raise _malformed(
                    "Invalid string literal '"
                    + soql[start : index + 2]
                    + "'. Illegal character sequence '\\"
                    + escaped
                    + "' in string literal.",
                    start,
                )
            index += 2
            continue
        parts.append(LIKE_ANY if char == "%" else LIKE_ONE if char == "_" else char)
        index += 1
    raise _malformed(f"line 1:{start} unterminated string literal", start)


def _word_at(soql: str, index: int) -> str:
    found = re.compile(r"\S+").match(soql, index)
    return found.group() if found else ""


def plain(text: str) -> str:
    """A string literal's value with LIKE wildcards read as the characters they are."""
    return text.replace(LIKE_ANY, "%").replace(LIKE_ONE, "_")


# --- AST -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    parts: tuple[str, ...]
    position: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Count:
    position: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | datetime | date | date_literal
    value: Any  # str, float/int, bool, None, datetime, date string, (name, n)
    position: int


@dataclass(frozen=True)
class Comparison:
    path: FieldPath
    operator: str  # = != < <= > >= in notin like
    values: tuple[Literal, ...]
    position: int


@dataclass(frozen=True)
class BoolOp:
    operator: str  # and | or
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    select: tuple[FieldPath | Count, ...]
    sobject: str
    sobject_position: int
    where: Expr | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None

    @property
    def is_count(self) -> bool:
        return any(isinstance(item, Count) for item in self.select)


# --- parser --------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, soql: str) -> None:
        self.tokens = tokenize(soql)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        token = self.token
        return token.kind == kind and (text is None or token.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        return self.advance() if self.at(kind, text) else None

    def unexpected(self) -> SoqlError:
        token = self.token
        return _malformed(f"unexpected token: {_quoted(token)}", token.position)

    def expect(self, kind: str, text: str | None = None) -> Token:
        found = self.accept(kind, text)
        if found is None:
            raise self.unexpected()
        return found

    def query(self) -> Query:
        self.expect("keyword", "SELECT")
        select = [self.select_item()]
        while self.accept("op", ","):
            select.append(self.select_item())
        self.expect("keyword", "FROM")
        name = self.expect("ident")
        where = None
        if self.accept("keyword", "WHERE"):
            where = self.condition()
        order: list[OrderItem] = []
        if self.accept("keyword", "ORDER"):
            self.expect("keyword", "BY")
            order.append(self.order_item())
            while self.accept("op", ","):
                order.append(self.order_item())
        limit = self.integer() if self.accept("keyword", "LIMIT") else None
        offset = None
        if self.accept("keyword", "OFFSET"):
            start = self.token.position
            offset = self.integer()
            if offset > MAX_OFFSET:
                raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}", start)
        if not self.at("eof"):
            raise self.unexpected()
        return Query(tuple(select), name.text, name.position, where, tuple(order), limit, offset)

    def select_item(self) -> FieldPath | Count:
        token = self.token
        if token.kind == "ident" and token.text.upper() == "COUNT" and self.tokens[self.index + 1].text == "(":
            self.advance()
            self.expect("op", "(")
            if not self.at("op", ")"):
                raise _malformed(
                    "Only COUNT() is supported by this emulator: aggregate functions other than COUNT() are not",
                    self.token.position,
                )
            self.expect("op", ")")
            return Count(token.position)
        return self.path()

    def path(self) -> FieldPath:
        first = self.expect("ident")
        parts = [first.text]
        while self.accept("op", "."):
            parts.append(self.expect("ident").text)
        return FieldPath(tuple(parts), first.position)

    def integer(self) -> int:
        token = self.expect("number")
        if not re.fullmatch(r"\d+", token.text):
            raise _malformed(f"unexpected token: {_quoted(token)}", token.position)
        return int(token.text)

    def order_item(self) -> OrderItem:
        path = self.path()
        descending = False
        if self.accept("keyword", "DESC"):
            descending = True
        else:
            self.accept("keyword", "ASC")
        nulls_last = descending
        if self.accept("keyword", "NULLS"):
            if self.accept("keyword", "LAST"):
                nulls_last = True
            else:
                self.expect("keyword", "FIRST")
                nulls_last = False
        return OrderItem(path, descending, nulls_last)

    def condition(self) -> Expr:
        first = self.unary()
        if not (self.at("keyword", "AND") or self.at("keyword", "OR")):
            return first
        operator = self.token.text
        items = [first]
        while self.accept("keyword", operator):
            items.append(self.unary())
        if self.at("keyword", "AND") or self.at("keyword", "OR"):
            raise self.unexpected()  # AND and OR mixed without parentheses
        return BoolOp(operator.lower(), tuple(items))

    def unary(self) -> Expr:
        if self.accept("keyword", "NOT"):
            return Not(self.unary())
        if self.accept("op", "("):
            inner = self.condition()
            self.expect("op", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.path()
        token = self.token
        if token.kind == "op" and token.text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            self.advance()
            operator = "!=" if token.text == "<>" else token.text
            return Comparison(path, operator, (self.value(),), token.position)
        if self.accept("keyword", "LIKE"):
            return Comparison(path, "like", (self.value(),), token.position)
        negated = self.accept("keyword", "NOT") is not None
        if self.accept("keyword", "IN"):
            self.expect("op", "(")
            values = [self.value()]
            while self.accept("op", ","):
                values.append(self.value())
            self.expect("op", ")")
            return Comparison(path, "notin" if negated else "in", tuple(values), token.position)
        raise self.unexpected()

    def value(self) -> Literal:
        token = self.advance()
        kind = token.kind
        if kind == "string":
            return Literal("string", token.text, token.position)
        if kind == "number":
            number: float | int = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number, token.position)
        if kind == "datetime":
            return Literal("datetime", parse_datetime(token.text), token.position)
        if kind == "date":
            try:
                date.fromisoformat(token.text)
            except ValueError:
                raise _malformed(f"invalid date: {token.text}", token.position) from None
            return Literal("date", token.text, token.position)
        if kind == "keyword" and token.text in ("TRUE", "FALSE"):
            return Literal("boolean", token.text == "TRUE", token.position)
        if kind == "keyword" and token.text == "NULL":
            return Literal("null", None, token.position)
        if kind == "ident":
            upper = token.text.upper()
            if upper in DATE_LITERALS:
                return Literal("date_literal", (upper, 0), token.position)
            if upper in DATE_N_LITERALS:
                self.expect("op", ":")
                return Literal("date_literal", (upper, self.integer()), token.position)
        self.index -= 1 if kind != "eof" else 0
        raise self.unexpected()


def _quoted(token: Token) -> str:
    return "<EOF>" if token.kind == "eof" else f"'{plain(token.text)}'"


def parse(soql: str) -> Query:
    """The AST of a SOQL query, or SoqlError (MALFORMED_QUERY, NUMBER_OUTSIDE_VALID_RANGE)."""
    if not soql or not soql.strip():
        raise _malformed("unexpected token: <EOF>", 0)
    return _Parser(soql).query()


# --- values --------------------------------------------------------------------------------------------------


def parse_datetime(text: str) -> datetime:
    """A Salesforce datetime (`...Z`, `...+00:00`, `....000+0000`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)


@functools.lru_cache(maxsize=262_144)
def epoch(text: str) -> float:
    """Epoch seconds of a stored datetime (cached: the same stamps are read over and over)."""
    return parse_datetime(text).timestamp()


def to18(record_id: str) -> str:
    """The canonical 18-character id (ids.normalize), or the text as given when it is not an id."""
    return normalize(record_id) or record_id


# --- metadata ------------------------------------------------------------------------------------------------

TEXT_TYPES = frozenset(
    {"string", "picklist", "multipicklist", "textarea", "phone", "email", "url", "combobox", "encryptedstring"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
ID_TYPES = frozenset({"id", "reference"})
COMPOUND_TYPES = frozenset({"address", "location"})
LONG_TEXT_LENGTH = 255  # a textarea longer than this is long text (smaller query batches)
_LITERAL_TYPE_WORD = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "number": "double"}


@dataclass
class Entity:
    """An sObject's describe, indexed for the compiler: fields by lower-case name, relationships by lower-case
    relationship name, compound fields' parts."""

    name: str
    fields: dict[str, dict[str, Any]]
    relationships: dict[str, dict[str, Any]]
    components: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_describe(cls, describe: dict[str, Any]) -> Entity:
        fields = {meta["name"].lower(): meta for meta in describe["fields"]}
        relationships = {
            meta["relationshipName"].lower(): meta for meta in describe["fields"] if meta.get("relationshipName")
        }
        components: dict[str, list[dict[str, Any]]] = {}
        for meta in describe["fields"]:
            if meta.get("compoundFieldName"):
                components.setdefault(meta["compoundFieldName"], []).append(meta)
        return cls(describe["name"], fields, relationships, components)

    def field(self, name: str) -> dict[str, Any] | None:
        return self.fields.get(name.lower())

    def is_long_text(self, meta: dict[str, Any]) -> bool:
        return meta.get("type") == "textarea" and int(meta.get("length") or 0) > LONG_TEXT_LENGTH


class Catalog(Protocol):
    """What the compiler and runner need from an org: an sObject's metadata and a record by id (relationships)."""

    def entity(self, sobject: str) -> Entity | None: ...

    def record(self, sobject: str, record_id: str) -> Record | None: ...


# --- compiling -----------------------------------------------------------------------------------------------

Getter = Callable[[Record], Any]
Test = Callable[[Record], bool]


@dataclass
class Column:
    """A selected path: where it is read from and how it is shown (`path` as the query named it, canonical)."""

    path: tuple[str, ...]  # canonical names: ("Owner", "Name") or ("Email",)
    meta: dict[str, Any]
    get: Getter
    relation: tuple[dict[str, Any], ...] = ()  # the lookup fields walked through, outermost first


@dataclass
class Compiled:
    query: Query
    entity: Entity
    columns: list[Column]
    test: Test | None
    order: list[tuple[Getter, bool, bool]]  # (sort key getter, descending, nulls last)
    order_names: list[str]  # canonical single-field names of ORDER BY (relationship paths as dotted text)
    order_flags: list[tuple[bool, bool]]
    limit: int | None
    offset: int
    keyset: Keyset | None
    long_text_columns: int
    id_members: frozenset[str] | None = None  # the WHERE names its rows by id (`Id IN (...)`, `Id = x`)

    @property
    def is_count(self) -> bool:
        return self.query.is_count


def record_id(record: Record) -> str:
    return record.get("Id") or record["id"]


def compile_query(query: Query, catalog: Catalog, *, now: datetime | None = None) -> Compiled:
    entity = catalog.entity(query.sobject)
    if entity is None:
        raise unsupported_type(query.sobject, query.sobject_position)
    resolver = _Resolver(entity, catalog)
    columns: list[Column] = []
    seen: set[str] = set()
    counts = [item for item in query.select if isinstance(item, Count)]
    if counts and len(query.select) > 1:
        raise _malformed("unexpected token: ','", query.select[1].position if query.select else None)
    if counts and query.order_by:
        raise _malformed("ORDER BY is not allowed with COUNT()", query.order_by[0].path.position)
    for item in query.select:
        if isinstance(item, Count):
            continue
        column = resolver.column(item)
        key = ".".join(column.path).lower()
        if key in seen:
            raise _malformed(f"duplicate field selected: {'.'.join(column.path)}", item.position)
        seen.add(key)
        columns.append(column)
    moment = now or datetime.now(UTC)
    test = _compile_expr(query.where, resolver, moment) if query.where is not None else None
    order: list[tuple[Getter, bool, bool]] = []
    names: list[str] = []
    for item in query.order_by:
        column = resolver.column(item.path, clause="order")
        if column.meta.get("sortable") is False or column.meta.get("type") in COMPOUND_TYPES:
            raise SoqlError(
                "INVALID_FIELD",
                f"field '{column.meta['name']}' can not be sorted in a query call",
                item.path.position,
            )
        order.append((_sort_key(column), item.descending, item.nulls_last))
        names.append(".".join(column.path))
    long_text = sum(1 for column in columns if not column.relation and entity.is_long_text(column.meta))
    compiled = Compiled(
        query=query,
        entity=entity,
        columns=columns,
        test=test,
        order=order,
        order_names=names,
        order_flags=[(item.descending, item.nulls_last) for item in query.order_by],
        limit=query.limit,
        offset=query.offset or 0,
        keyset=None,
        long_text_columns=long_text,
    )
    compiled.keyset = _keyset_of(query, entity, names, compiled.order_flags)
    compiled.id_members = _id_members(query.where)
    return compiled


class _Resolver:
    def __init__(self, entity: Entity, catalog: Catalog) -> None:
        self.entity = entity
        self.catalog = catalog

    def column(self, path: FieldPath, *, clause: str = "select") -> Column:
        parts = list(path.parts)
        # A path may start with the object's own name (`SELECT Lead.Email FROM Lead`).
        if len(parts) > 1 and parts[0].lower() == self.entity.name.lower():
            parts = parts[1:]
        entity = self.entity
        relation: list[dict[str, Any]] = []
        canonical: list[str] = []
        for name in parts[:-1]:
            meta = entity.relationships.get(name.lower())
            if meta is None:
                raise _no_such_relation(name, entity.name, path.position)
            target_name = (meta.get("referenceTo") or [None])[0]
            target = self.catalog.entity(target_name) if target_name else None
            if target is None:
                raise _no_such_relation(name, entity.name, path.position)
            relation.append(meta)
            canonical.append(meta["relationshipName"])
            entity = target
        last = parts[-1]
        meta = entity.field(last)
        if meta is None:
            raise no_such_column(last, entity.name, path.position)
        canonical.append(meta["name"])
        get = self._getter(entity, meta, tuple(relation))
        return Column(tuple(canonical), meta, get, tuple(relation))

    def _getter(self, entity: Entity, meta: dict[str, Any], relation: tuple[dict[str, Any], ...]) -> Getter:
        name = meta["name"]
        if meta.get("type") in COMPOUND_TYPES:
            parts = entity.components.get(name, [])
            prefix = name[: -len("Address")] if name.endswith("Address") else ""

            def get_compound(record: Record) -> Any:
                value = {_component_key(part["name"], prefix): record.get(part["name"]) for part in parts}
                return value if any(item is not None for item in value.values()) else None

            own = get_compound
        elif name == "Id":
            own = record_id
        elif meta.get("type") == "boolean":
            own = lambda record: bool(record.get(name))  # noqa: E731 (booleans are never null in Salesforce)
        else:
            own = lambda record: record.get(name)  # noqa: E731
        if not relation:
            return own
        catalog = self.catalog

        def get_related(record: Record) -> Any:
            current: Record | None = record
            for lookup in relation:
                target_id = current.get(lookup["name"]) if current is not None else None
                if not target_id:
                    return None
                current = _related(catalog, lookup, target_id)
            return own(current) if current is not None else None

        return get_related


def _related(catalog: Catalog, lookup: dict[str, Any], target_id: str) -> Record | None:
    for sobject in lookup.get("referenceTo") or ():
        found = catalog.record(sobject, target_id)
        if found is not None:
            return found
    return None


def _component_key(name: str, prefix: str) -> str:
    short = name[len(prefix) :] if prefix and name.startswith(prefix) else name
    return short[:1].lower() + short[1:]


def _compile_expr(node: Expr, resolver: _Resolver, now: datetime) -> Test:
    if isinstance(node, Comparison):
        return _compile_comparison(node, resolver, now)
    if isinstance(node, Not):
        inner = _compile_expr(node.item, resolver, now)
        return lambda record: not inner(record)
    tests = [_compile_expr(item, resolver, now) for item in node.items]
    if node.operator == "and":
        return lambda record: all(test(record) for test in tests)
    return lambda record: any(test(record) for test in tests)


def _type_error(meta: dict[str, Any], literal: Literal) -> SoqlError:
    kind = meta.get("type")
    name = meta["name"]
    if kind in TEXT_TYPES or kind in ID_TYPES:
        wanted, quoted = "string", "should be enclosed in quotes"
    else:
        wanted = {"datetime": "dateTime", "date": "date", "boolean": "boolean"}.get(kind, "double")
        quoted = "should not be enclosed in quotes"
    return SoqlError(
        "INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type {wanted} and {quoted}",
        literal.position,
    )  # fmt: skip


def _compile_comparison(node: Comparison, resolver: _Resolver, now: datetime) -> Test:
    column = resolver.column(node.path, clause="where")
    meta = column.meta
    kind = meta.get("type")
    if kind in COMPOUND_TYPES or meta.get("filterable") is False:
        raise SoqlError(
            "INVALID_FIELD",
            f"field '{meta['name']}' can not be filtered in a query call",
            node.path.position,
        )
    get = column.get
    operator = node.operator
    if operator == "like":
        if kind not in TEXT_TYPES and kind not in ID_TYPES:
            raise SoqlError(
                "INVALID_FIELD",
                f"invalid operator on {_LITERAL_TYPE_WORD.get(kind, kind)} field: {meta['name']}",
                node.position,
            )
        literal = node.values[0]
        if literal.kind != "string":
            raise _type_error(meta, literal)
        pattern = _like(literal.value)
        return lambda record: (value := get(record)) is not None and pattern.fullmatch(str(value)) is not None
    normal = _normalizer(meta)
    literals = [_coerce(meta, literal, now) for literal in node.values]
    if any(isinstance(value, _Range) for value in literals):
        if operator in ("in", "notin"):
            raise _malformed("date literals are not allowed in IN", node.position)
        return _range_test(get, normal, operator, literals[0])
    if operator in ("in", "notin"):
        members = frozenset(literals)
        if operator == "in":
            return lambda record: normal(get(record)) in members
        return lambda record: normal(get(record)) not in members
    target = literals[0]
    if operator == "=":
        return lambda record: normal(get(record)) == target
    if operator == "!=":
        return lambda record: normal(get(record)) != target
    if target is None:
        return lambda record: False
    compare = {
        "<": lambda value: value < target,
        "<=": lambda value: value <= target,
        ">": lambda value: value > target,
        ">=": lambda value: value >= target,
    }[operator]
    return lambda record: (value := normal(get(record))) is not None and compare(value)


@dataclass(frozen=True)
class _Range:
    start: Any  # inclusive
    end: Any  # exclusive


def _range_test(get: Getter, normal: Callable[[Any], Any], operator: str, span: _Range) -> Test:
    start, end = span.start, span.end
    checks: dict[str, Callable[[Any], bool]] = {
        "=": lambda value: start <= value < end,
        "!=": lambda value: not start <= value < end,
        "<": lambda value: value < start,
        "<=": lambda value: value < end,
        ">": lambda value: value >= end,
        ">=": lambda value: value >= start,
    }
    check = checks[operator]
    return lambda record: (value := normal(get(record))) is not None and check(value)


def _normalizer(meta: dict[str, Any]) -> Callable[[Any], Any]:
    kind = meta.get("type")
    if kind == "datetime":
        return lambda value: None if value is None else epoch(value)
    if kind in TEXT_TYPES:
        return lambda value: None if value is None else str(value).casefold()
    if kind in NUMBER_TYPES:
        return lambda value: None if value is None else float(value)
    if kind == "boolean":
        return lambda value: bool(value)
    return lambda value: value  # ids, dates (ISO text sorts as dates do)


def _coerce(meta: dict[str, Any], literal: Literal, now: datetime) -> Any:
    """A literal as the field's normalized value (what `_normalizer` makes of stored values), or a type error."""
    kind = meta.get("type")
    if literal.kind == "null":
        return None
    if literal.kind == "date_literal":
        if kind not in ("date", "datetime"):
            raise _type_error(meta, literal)
        name, days = literal.value
        today = now.astimezone(UTC).date()
        first, last = {
            "TODAY": (today, today),
            "YESTERDAY": (today - timedelta(days=1), today - timedelta(days=1)),
            "TOMORROW": (today + timedelta(days=1), today + timedelta(days=1)),
            "LAST_N_DAYS": (today - timedelta(days=days), today),
            "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=days)),
        }[name]
        after = last + timedelta(days=1)
        if kind == "date":
            return _Range(first.isoformat(), after.isoformat())
        midnight = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(after.year, after.month, after.day, tzinfo=UTC)
        return _Range(midnight.timestamp(), end.timestamp())
    if kind == "datetime":
        if literal.kind != "datetime":
            raise _type_error(meta, literal)
        return literal.value.timestamp()
    if kind == "date":
        if literal.kind != "date":
            raise _type_error(meta, literal)
        return literal.value
    if kind == "boolean":
        if literal.kind != "boolean":
            raise _type_error(meta, literal)
        return literal.value
    if kind in NUMBER_TYPES:
        if literal.kind != "number":
            raise _type_error(meta, literal)
        return float(literal.value)
    if kind in ID_TYPES:
        if literal.kind != "string":
            raise _type_error(meta, literal)
        value = plain(literal.value)
        canonical = normalize(value)
        if canonical is None:
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}", literal.position)
        return canonical
    if literal.kind != "string":
        raise _type_error(meta, literal)
    return plain(literal.value).casefold()


def _like(value: str) -> re.Pattern[str]:
    parts = []
    for chunk in re.split(f"({re.escape(LIKE_ANY)}|{re.escape(LIKE_ONE)})", value):
        parts.append(".*" if chunk == LIKE_ANY else "." if chunk == LIKE_ONE else re.escape(chunk))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _sort_key(column: Column) -> Getter:
    normal = _normalizer(column.meta)
    get = column.get
    return lambda record: normal(get(record))


# --- keyset analysis (for reading the (SystemModstamp, Id) index) --------------------------------------------

MODSTAMP = "SystemModstamp"


@dataclass(frozen=True)
class Keyset:
    """The query is ordered by (SystemModstamp[, Id]) ascending or by Id ascending, and every match lies at or
    after `start` in that order: the runner reads the store's index from there instead of sorting everything.
    `after` = (epoch, id text): start strictly past it; `inclusive_from` = epoch: from that moment on."""

    order: str  # "modified" | "id"
    after: tuple[float, str] | None = None
    until: float | None = None  # (modified order) no match has SystemModstamp beyond this epoch
    id_after: str | None = None  # (id order) start strictly past this id
    id_from: str | None = None  # (id order) start at this id


def _keyset_of(query: Query, entity: Entity, names: list[str], flags: list[tuple[bool, bool]]) -> Keyset | None:
    if any(descending for descending, _ in flags):
        return None
    if names in ([MODSTAMP], [MODSTAMP, "Id"]):
        low, until = _modstamp_bounds(query.where)
        return Keyset("modified", after=low, until=until)
    if not names:
        # No order asked for (Salesforce promises none): a SystemModstamp bound reads that index from the bound.
        low, until = _modstamp_bounds(query.where)
        if low is not None:
            return Keyset("modified", after=low, until=until)
    if names == ["Id"]:
        after, start = _id_bounds(query.where)
        return Keyset("id", id_after=after, id_from=start)
    return None


_BOTTOM, _TOP = "", "~"  # id texts sort between these (ids are letters and digits)


def _is(node: Expr | None, name: str, *operators: str) -> bool:
    return (
        isinstance(node, Comparison)
        and len(node.path.parts) == 1
        and node.path.parts[0].lower() == name.lower()
        and node.operator in operators
        and node.values[0].kind in ("datetime", "string")
    )


def _modstamp_bounds(node: Expr | None) -> tuple[tuple[float, str] | None, float | None]:
    """(start key: every match is strictly after it, latest epoch a match can have); either may be None.
    Recognizes `SystemModstamp >/>= t`, `SystemModstamp </<= u`, the keyset `SystemModstamp > t OR
    (SystemModstamp = t AND Id > 'x')` and ANDs of those; anything else adds no bound (the predicate still
    decides every row read)."""
    if node is None:
        return None, None
    if isinstance(node, Comparison):
        if _is(node, MODSTAMP, ">", ">=", "<", "<=", "=") and node.values[0].kind == "datetime":
            moment = node.values[0].value.timestamp()
            if node.operator == ">":
                return (moment, _TOP), None
            if node.operator == ">=":
                return (moment, _BOTTOM), None
            if node.operator == "=":
                return (moment, _BOTTOM), moment
            return None, moment
        return None, None
    if isinstance(node, BoolOp) and node.operator == "and":
        low: tuple[float, str] | None = None
        until: float | None = None
        pinned = None
        id_low = None
        for item in node.items:
            item_low, item_until = _modstamp_bounds(item)
            if item_low is not None and (low is None or item_low > low):
                low = item_low
            if item_until is not None and (until is None or item_until < until):
                until = item_until
            if _is(item, MODSTAMP, "=") and item.values[0].kind == "datetime":
                pinned = item.values[0].value.timestamp()
            if _is(item, "Id", ">", ">=") and item.values[0].kind == "string":
                value = to18(plain(item.values[0].value))
                # Id >= x starts at x: the probe sorts just before it
                id_low = value if item.operator == ">" else value[:-1] + chr(ord(value[-1]) - 1) + _TOP
        if pinned is not None and id_low is not None:
            candidate = (pinned, id_low)
            if low is None or candidate > low:
                low = candidate
        return low, until
    if isinstance(node, BoolOp) and node.operator == "or":
        lows = [_modstamp_bounds(item) for item in node.items]
        if any(item_low is None for item_low, _ in lows):
            return None, None
        low = min(item_low for item_low, _ in lows)  # type: ignore[type-var]
        untils = [item_until for _, item_until in lows]
        until = None if any(value is None for value in untils) else max(untils)  # type: ignore[type-var]
        return low, until
    return None, None


def _id_bounds(node: Expr | None) -> tuple[str | None, str | None]:
    """(start strictly after this id, or start at this id) from `Id > x` / `Id >= x` at the top or in an AND."""
    items: tuple[Expr, ...] = ()
    if isinstance(node, Comparison):
        items = (node,)
    elif isinstance(node, BoolOp) and node.operator == "and":
        items = node.items
    after = start = None
    for item in items:
        if _is(item, "Id", ">") and item.values[0].kind == "string":
            after = max(after or "", to18(plain(item.values[0].value)))
        if _is(item, "Id", ">=") and item.values[0].kind == "string":
            start = max(start or "", to18(plain(item.values[0].value)))
    return after, start


def _id_members(node: Expr | None) -> frozenset[str] | None:
    """The ids a WHERE limits its rows to (`Id IN (...)` or `Id = 'x'`, alone or in an AND), or None."""
    items: tuple[Expr, ...] = ()
    if isinstance(node, Comparison):
        items = (node,)
    elif isinstance(node, BoolOp) and node.operator == "and":
        items = node.items
    members: frozenset[str] | None = None
    for item in items:
        if (
            isinstance(item, Comparison)
            and len(item.path.parts) == 1
            and item.path.parts[0].lower() == "id"
            and item.operator in ("=", "in")
            and all(value.kind == "string" for value in item.values)
        ):
            found = frozenset(to18(plain(value.value)) for value in item.values)
            members = found if members is None else members & found
    return members


# --- running -------------------------------------------------------------------------------------------------


class Source(Protocol):
    """What the runner reads: a kit RecordStore (records, lock, walk(order, after=key), id_index)."""

    records: dict[str, Record]

    def walk(self, order: str, *, descending: bool = False, after: Any = None) -> Iterator[tuple[Any, Record]]: ...


def run(
    compiled: Compiled,
    source: Source,
    *,
    visible: Callable[[Record], bool] | None = None,
    extra: Iterable[Record] = (),
) -> list[Record]:
    """The records the query matches, in its order, after OFFSET and within LIMIT (all of them for COUNT()
    without LIMIT). `visible` hides rows (the deleted ones for query, none for queryAll); `extra` adds rows
    the store does not hold (deleted ones kept apart), which forces the sorting path. Hold the store's lock."""
    test = compiled.test
    extra = list(extra)
    if compiled.id_members is not None and not extra:
        # A few named rows: read them by id instead of testing every record.
        found = (source.records.get(record_id) for record_id in compiled.id_members)
        candidates_by_id = [record for record in found if record is not None]
        matches = [
            record
            for record in candidates_by_id
            if (visible is None or visible(record)) and (test is None or test(record))
        ]
        _sort(matches, compiled)
        end = None if compiled.limit is None else compiled.offset + compiled.limit
        return matches[compiled.offset : end]
    if compiled.keyset is not None and not extra:
        rows = _run_keyset(compiled, source, test, visible)
        if rows is not None:
            return rows
    candidates: Iterable[Record] = [*source.records.values(), *extra]
    matches = [
        record for record in candidates if (visible is None or visible(record)) and (test is None or test(record))
    ]
    _sort(matches, compiled)
    end = None if compiled.limit is None else compiled.offset + compiled.limit
    return matches[compiled.offset : end]


def _run_keyset(
    compiled: Compiled, source: Source, test: Test | None, visible: Callable[[Record], bool] | None
) -> list[Record] | None:
    keyset = compiled.keyset
    if keyset is None:
        return None
    want = None if compiled.limit is None else compiled.offset + compiled.limit
    found: list[Record] = []
    if keyset.order == "modified":
        walker = source.walk("modified", after=keyset.after)
        until = keyset.until
        for key, record in walker:
            if until is not None and key[0] > until:
                break
            if (visible is None or visible(record)) and (test is None or test(record)):
                found.append(record)
                if want is not None and len(found) >= want:
                    break
    else:
        after = keyset.id_after
        if keyset.id_from is not None:
            start = keyset.id_from
            after = max(after or "", start[:-1] + chr(ord(start[-1]) - 1) + _TOP) if start else after
        walker = source.walk("id", after=(0.0, after) if after else None)
        for _key, record in walker:
            if (visible is None or visible(record)) and (test is None or test(record)):
                found.append(record)
                if want is not None and len(found) >= want:
                    break
    return found[compiled.offset :]


def _sort(records: list[Record], compiled: Compiled) -> None:
    """Stable sorts from the last key to the first; with no ORDER BY, Id order (Salesforce promises none; the
    emulator answers repeatably)."""
    records.sort(key=record_id)
    for get, descending, nulls_last in reversed(compiled.order):
        records.sort(key=_null_key(get, descending, nulls_last), reverse=descending)


def _null_key(get: Getter, descending: bool, nulls_last: bool) -> Callable[[Record], tuple[int, Any]]:
    # With reverse=descending, a rank of 0 comes first ascending and last descending.
    null_rank = (2 if nulls_last else 0) if not descending else (0 if nulls_last else 2)

    def key(record: Record) -> tuple[int, Any]:
        value = get(record)
        return (null_rank, 0) if value is None else (1, value)

    return key


def count_only(compiled: Compiled, source: Source, *, visible: Callable[[Record], bool] | None = None) -> int:
    return len(run(compiled, source, visible=visible))
