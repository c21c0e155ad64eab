"""COQL's tokens: case-insensitive keywords, API names (dotted lookup paths as one token), quoted strings with
doubled-quote escaping, numbers and operators. Positions follow ANTLR's convention (line from 1, column from 0),
which is what Zoho's `{"line", "column", "near"}` details look like (UNCONFIRMED)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.zoho_crm.coql import errors

# Words COQL gives a meaning to. They cannot be column names unless quoted.
KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "in",
        "like",
        "between",
        "is",
        "null",
        "order",
        "by",
        "asc",
        "desc",
        "limit",
        "offset",
        "true",
        "false",
        "group",
        "having",
        "as",
    }
)
# SQL reserved words that Zoho also refuses unquoted as field names (Kaizen #171: `select External ...` is a
# SYNTAX_ERROR, `select 'External' ...` works). A conservative subset of SQL's list (UNCONFIRMED beyond External).
RESERVED = KEYWORDS | frozenset(
    {
        "external",
        "all",
        "distinct",
        "join",
        "inner",
        "outer",
        "left",
        "right",
        "full",
        "cross",
        "on",
        "using",
        "union",
        "case",
        "when",
        "then",
        "else",
        "end",
        "exists",
        "into",
        "values",
        "insert",
        "update",
        "delete",
        "set",
        "table",
        "create",
        "drop",
        "alter",
        "with",
    }
)


@dataclass(frozen=True)
class Token:
    kind: str  # ident | keyword | string | number | op | eof
    text: str  # as written (for strings: the unescaped value)
    line: int
    column: int
    quote: str = ""  # ' or " for strings
    raw: str = ""  # the source text of the token

    @property
    def word(self) -> str:
        """Lower-cased keyword text ("" when not a keyword)."""
        return self.text.lower() if self.kind == "keyword" else ""

    @property
    def near(self) -> str:
        return "<EOF>" if self.kind == "eof" else (self.raw or self.text)


_NAME = r"!?[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*"
_TOKEN = re.compile(
    rf"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z0-9_$]))
  | (?P<name>{_NAME})
  | (?P<op>>=|<=|!=|<>|==|[=<>(),*;])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position, line, line_start = 0, 1, 0
    length = len(text)
    while position < length:
        char = text[position]
        column = position - line_start
        if char in "'\"":
            value, end = _read_string(text, position, char)
            tokens.append(Token("string", value, line, column, quote=char, raw=text[position:end]))
            position = end
            continue
        match = _TOKEN.match(text, position)
        if match is None:
            previous = tokens[-1].near if tokens else text[position : position + 10]
            raise errors.parse_error_near(previous)
        kind = match.lastgroup or ""
        value = match.group()
        if kind == "space":
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = position + value.rindex("\n") + 1
        elif kind == "name":
            token_kind = "keyword" if value.lower() in KEYWORDS else "ident"
            tokens.append(Token(token_kind, value, line, column, raw=value))
        else:
            tokens.append(Token(kind, value, line, column, raw=value))
        position = match.end()
    tokens.append(Token("eof", "", line, length - line_start))
    return tokens


def _read_string(text: str, start: int, quote: str) -> tuple[str, int]:
    """A quoted literal from `start` (the opening quote); a doubled quote inside stands for one."""
    parts: list[str] = []
    position = start + 1
    while True:
        end = text.find(quote, position)
        if end < 0:
            raise errors.parse_error_near(text[start : start + 30])
        parts.append(text[position:end])
        if text.startswith(quote * 2, end):
            parts.append(quote)
            position = end + 2
            continue
        return "".join(parts), end + 1
