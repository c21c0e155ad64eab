"""SOQL text to an AST: Salesforce's errors for refused queries (with the caret message the REST API shows), the
tokenizer, the AST nodes, the recursive-descent parser, and the datetime and id values literals turn into.
`sandbox.salesforce.soql` describes what is understood and re-exports the public names."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

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


def malformed(detail: str, position: int | None) -> SoqlError:
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


def no_such_relation(name: str, entity: str, position: int | None) -> SoqlError:
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
                raise malformed(f"unexpected token: '{_word_at(soql, index)}'", index)
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
            raise malformed(f"unexpected token: '{char}'", index)
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
                raise malformed(
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
    raise malformed(f"line 1:{start} unterminated string literal", start)


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
        return malformed(f"unexpected token: {_quoted(token)}", token.position)

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
                raise malformed(
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
            raise malformed(f"unexpected token: {_quoted(token)}", token.position)
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
                raise malformed(f"invalid date: {token.text}", token.position) from None
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
        raise malformed("unexpected token: <EOF>", 0)
    return _Parser(soql).query()


# --- values --------------------------------------------------------------------------------------------------


def parse_datetime(text: str) -> datetime:
    """A Salesforce datetime (`...Z`, `...+00:00`, `....000+0000`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)


@functools.lru_cache(maxsize=262_144)
def epoch(text: str) -> float:
    """Epoch seconds of a stored datetime (cached: the same stamps are read over and over)."""
    return parse_datetime(text).timestamp()


def record_id(record: Record) -> str:
    return record.get("Id") or record["id"]


def to18(record_id: str) -> str:
    """The canonical 18-character id (ids.normalize), or the text as given when it is not an id."""
    return normalize(record_id) or record_id
