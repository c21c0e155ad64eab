"""A recursive-descent parser for COQL's SELECT:

    query     := SELECT column {"," column} FROM module [WHERE criteria]
                 [ORDER BY column [ASC|DESC] {"," column [ASC|DESC]}]
                 [LIMIT n [OFFSET m] | LIMIT m "," n] EOF
    column    := api_name | api_name.path | 'quoted name' | "quoted name"
    criteria  := term [(AND | OR) term]          -- one operator per bracket level: Zoho's pairing rule,
    term      := "(" criteria ")" | condition    -- so A and B and C must be written ((A and B) and C)
    condition := column (= | != | > | < | >= | <=) value
               | column [NOT] BETWEEN value AND value
               | column [NOT] IN "(" value {"," value} ")"
               | column [NOT] LIKE value
               | column IS [NOT] NULL
    value     := 'string' | number | TRUE | FALSE

Only syntax is checked here; columns, types and limits are checked against the org by planner.py. What Zoho has
and this emulator does not (aggregates, GROUP BY, aliases, subqueries, joins) answers "given coql query not
supported".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.zoho_crm.coql import errors
from sandbox.zoho_crm.coql.lexer import RESERVED, Token, tokenize

MAX_CRITERIA = 25
MAX_IN_VALUES = 100
AGGREGATES = frozenset({"count", "sum", "max", "min", "avg"})
COMPARISONS = frozenset({"=", "!=", ">", "<", ">=", "<="})
# Whether a query without WHERE is refused with `missing clause {"clause": "where"}`. Older docs required it; the
# v8 docs show queries without it (UNCONFIRMED; docs/vendors/zoho-crm.md, COQL). The product always sends one.
WHERE_REQUIRED = False


@dataclass(frozen=True)
class Column:
    name: str  # as written, unquoted: "Last_Name", "Owner.first_name", "External"
    token: Token


@dataclass
class Condition:
    column: Column
    operator: str  # = != > < >= <= between "not between" in "not in" like "not like" "is null" "is not null"
    values: list[Token] = field(default_factory=list)


@dataclass
class Logical:
    operator: str  # and | or
    left: Condition | Logical
    right: Condition | Logical


Criteria = Condition | Logical


@dataclass
class OrderItem:
    column: Column
    descending: bool = False


@dataclass
class Query:
    columns: list[Column]
    module: str
    where: Criteria | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: Token | None = None
    offset: Token | None = None
    criteria_count: int = 0


def parse(text: str) -> Query:
    return _Parser(tokenize(text)).query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.criteria_count = 0

    # --- token helpers -------------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.position + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.position = min(self.position + 1, len(self.tokens) - 1)
        return token

    def at_word(self, *words: str) -> bool:
        return self.peek().word in words

    def at_op(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == "op" and token.text in ops

    @staticmethod
    def unexpected(token: Token) -> errors.CoqlError:
        return errors.unexpected_token(token.line, token.column, token.near)

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.unexpected(self.peek())
        return self.next()

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.unexpected(self.peek())
        return self.next()

    # --- clauses -------------------------------------------------------------------------------------------
    def query(self) -> Query:
        first = self.peek()
        if not self.at_word("select"):
            if first.kind == "ident" and first.text.lower() in RESERVED:  # update / delete / insert ...
                raise errors.query_not_supported()
            raise self.unexpected(first)
        self.next()
        if self.at_word("from") or self.peek().kind == "eof":
            raise errors.missing_clause("select")
        columns = [self.select_column()]
        while self.at_op(","):
            self.next()
            columns.append(self.select_column())
        if self.peek().kind == "eof":
            raise errors.missing_clause("from")
        self.expect_word("from")
        module = self.module()
        query = Query(columns=columns, module=module)
        if self.at_word("where"):
            self.next()
            if self.peek().kind == "eof" or self.at_word("order", "limit", "group"):
                raise errors.missing_clause("where")
            query.where = self.criteria()
        elif WHERE_REQUIRED:
            raise errors.missing_clause("where")
        if self.at_word("group", "having"):
            raise errors.query_not_supported()
        if self.at_word("order"):
            self.next()
            self.expect_word("by")
            if self.peek().kind == "eof" or self.at_word("limit"):
                raise errors.missing_clause("order by")
            query.order_by.append(self.order_item())
            while self.at_op(","):
                self.next()
                query.order_by.append(self.order_item())
        if self.at_word("limit"):
            self.next()
            if self.peek().kind == "eof":
                raise errors.missing_clause("limit")
            query.limit = self.next()
            if self.at_op(","):  # MySQL style: LIMIT offset, count
                self.next()
                query.offset, query.limit = query.limit, self.next()
            elif self.at_word("offset"):
                self.next()
                query.offset = self.next()
        end = self.peek()
        if end.kind != "eof":
            raise self.unexpected(end)
        query.criteria_count = self.criteria_count
        if self.criteria_count > MAX_CRITERIA:
            raise errors.limit_exceeded({"limit": MAX_CRITERIA, "clause": "where"})
        return query

    def column(self) -> Column:
        token = self.peek()
        if token.kind == "string":
            self.next()
            return Column(token.text, token)
        if token.kind == "ident" and token.text.lower() not in RESERVED:
            self.next()
            return Column(token.text, token)
        raise self.unexpected(token)

    def select_column(self) -> Column:
        column = self.column()
        if self.at_op("("):
            self.function(column)
        if self.at_word("as") or self.peek().kind in ("ident", "string"):
            raise errors.query_not_supported()  # aliases
        return column

    def function(self, name: Column) -> None:
        """A function call in SELECT: Zoho's aggregates are not emulated; other names are not Zoho's."""
        raw = [name.token.raw or name.name]
        depth = 0
        while True:
            token = self.next()
            if token.kind == "eof":
                raise self.unexpected(token)
            raw.append(token.raw or token.text)
            if token.kind == "op" and token.text == "(":
                depth += 1
            elif token.kind == "op" and token.text == ")":
                depth -= 1
                if depth == 0:
                    break
        if name.name.lower() in AGGREGATES:
            raise errors.query_not_supported()
        raise errors.invalid_data({"reason": "unsupported aggregate function", "column": "".join(raw)})

    def module(self) -> str:
        token = self.peek()
        if token.kind == "eof":
            raise errors.missing_clause("from")
        if token.kind == "string" or (token.kind == "ident" and "." not in token.text):
            self.next()
            return token.text
        raise self.unexpected(token)

    def order_item(self) -> OrderItem:
        column = self.column()
        descending = False
        if self.at_word("asc", "desc"):
            descending = self.next().word == "desc"
        return OrderItem(column, descending)

    # --- criteria ------------------------------------------------------------------------------------------
    def criteria(self) -> Criteria:
        left = self.term()
        if not self.at_word("and", "or"):
            return left
        operator = self.next().word
        right = self.term()
        if self.at_word("and", "or"):  # a third criterion at the same level: Zoho wants ((A and B) and C)
            raise self.unexpected(self.peek())
        return Logical(operator, left, right)

    def term(self) -> Criteria:
        if self.at_op("("):
            self.next()
            if self.at_word("select"):
                raise errors.query_not_supported()
            inner = self.criteria()
            self.expect_op(")")
            return inner
        if self.at_word("not"):
            raise errors.operator_not_supported("not")
        return self.condition()

    def condition(self) -> Condition:
        column = self.column()
        if self.at_op("("):
            raise errors.query_not_supported()  # functions in criteria
        self.criteria_count += 1
        token = self.next()
        if token.kind == "op" and token.text in COMPARISONS:
            return Condition(column, token.text, [self.value()])
        if token.kind == "op" and token.text in ("<>", "=="):
            raise errors.operator_not_supported(token.text)
        negated = False
        if token.word == "not":
            negated = True
            token = self.next()
            if token.word not in ("between", "in", "like"):
                raise errors.operator_not_supported("not")
        prefix = "not " if negated else ""
        if token.word == "between":
            low = self.value()
            self.expect_word("and")
            return Condition(column, prefix + "between", [low, self.value()])
        if token.word == "in":
            self.expect_op("(")
            if self.at_word("select"):
                raise errors.query_not_supported()
            values = [self.value()]
            while self.at_op(","):
                self.next()
                values.append(self.value())
            self.expect_op(")")
            if len(values) > MAX_IN_VALUES:
                raise errors.limit_exceeded({"limit": MAX_IN_VALUES, "operator": prefix + "in"})
            return Condition(column, prefix + "in", values)
        if token.word == "like":
            return Condition(column, prefix + "like", [self.value()])
        if token.word == "is":
            operator = "is not null" if self.at_word("not") else "is null"
            if operator == "is not null":
                self.next()
            self.expect_word("null")
            return Condition(column, operator)
        if token.kind == "ident":  # ilike, contains, starts_with ...
            raise errors.operator_not_supported(token.text)
        raise self.unexpected(token)

    def value(self) -> Token:
        token = self.peek()
        if token.kind in ("string", "number") or token.word in ("true", "false"):
            return self.next()
        if token.kind == "op" and token.text == "(" and self.peek(1).word == "select":
            raise errors.query_not_supported()
        raise self.unexpected(token)
