"""Dataverse's `$filter`, evaluated on the emulator's row dicts: the expression is parsed by `odata-query` (its
lexer and parser, `odata_query.grammar`) and compiled here into a predicate over one row.

What the Web API accepts is what is compiled: comparisons (`eq ne gt ge lt le`, and `in (...)`), `and`, `or`,
`not`, parentheses, `contains`/`startswith`/`endswith` on text columns, `null`, and literals of each type
(strings, GUIDs unquoted, ISO datetimes and dates, numbers, `true`/`false`). Lookups are filtered through their
`_<name>_value` property (`_ownerid_value eq <guid>`). Dataverse's own query functions
(`Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=["a","b"])`, NotIn, Between, NotBetween, On,
OnOrAfter, OnOrBefore, LastXHours, LastXDays, Null, NotNull) take their values as strings, as in the docs.

Rules kept from the service, so a client that would fail against Dataverse fails here too: property names are
case-sensitive and an unknown one is refused (400, 0x80060888, "Could not find a property named 'x' on type
'Microsoft.Dynamics.CRM.lead'."); a literal of the wrong type is refused with OData's "A binary operator with
incompatible types was detected..." (a GUID column compared with a quoted string included); arithmetic, lambdas,
navigation paths and the other OData functions are refused. Text compares without regard to case (the database's
collation). Nulls follow SQL: a comparison with a missing value is unknown, `not` of unknown stays unknown, and
only rows whose whole expression is true match (`x ne 'a'` leaves out rows where x is empty: UNCONFIRMED for
`ne`). GUIDs order as lower-case text (SQL Server orders uniqueidentifiers by byte groups; clients must not rely on
either)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dateutil.parser import isoparse
from odata_query import ast
from odata_query.exceptions import ODataException, ParsingException, TokenizingException
from odata_query.grammar import ODataLexer, ODataParser

if TYPE_CHECKING:
    from sandbox.dynamics.state_tables import Attribute, Row, Table

QUERY_ERROR = "0x80060888"  # the code Dataverse gives OData query errors (unknown property, syntax, types)
CRM_NAMESPACE = ("Microsoft", "Dynamics", "CRM")

# Three-valued logic: True, False, or None (unknown, SQL's NULL comparison).
Predicate = Callable[["Row"], "bool | None"]

EDM_TYPE = {
    "String": "Edm.String",
    "Memo": "Edm.String",
    "EntityName": "Edm.String",
    "Integer": "Edm.Int32",
    "Picklist": "Edm.Int32",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
    "BigInt": "Edm.Int64",
    "Money": "Edm.Decimal",
    "Decimal": "Edm.Decimal",
    "Double": "Edm.Double",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
    "Uniqueidentifier": "Edm.Guid",
    "Lookup": "Edm.Guid",
    "Owner": "Edm.Guid",
    "Customer": "Edm.Guid",
}
NUMERIC = frozenset({"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"})
TEMPORAL = frozenset({"Edm.DateTimeOffset", "Edm.Date"})
OPERATOR_KIND = {
    ast.Eq: "Equal",
    ast.NotEq: "NotEqual",
    ast.Gt: "GreaterThan",
    ast.GtE: "GreaterThanOrEqual",
    ast.Lt: "LessThan",
    ast.LtE: "LessThanOrEqual",
}
TEXT_FUNCTIONS = ("contains", "startswith", "endswith")


class QueryRefused(Exception):
    """A query Dataverse refuses: answered as {"error": {"code", "message"}} with `status`."""

    def __init__(self, message: str, *, code: str = QUERY_ERROR, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def property_not_found(name: str, table: Table) -> QueryRefused:
    return QueryRefused(
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
    )


def resolve_property(table: Table, name: str) -> Attribute:
    """The column a query property names: a column by its logical name, or a lookup by `_<name>_value` (a lookup's
    own name is its navigation property, not something a filter, $select or $orderby can use)."""
    match = re.fullmatch(r"_(\w+)_value", name)
    if match:
        attribute = table.attribute(match.group(1))
        if attribute is not None and attribute.is_lookup:
            return attribute
        raise property_not_found(name, table)
    attribute = table.attribute(name)
    if attribute is None or attribute.is_lookup or not attribute.valid_for_read:
        raise property_not_found(name, table)
    return attribute


def edm_type(attribute: Attribute) -> str:
    if attribute.type == "DateTime" and attribute.format == "DateOnly":
        return "Edm.Date"
    return EDM_TYPE.get(attribute.type, "Edm.String")


def normalized(edm: str, value: Any) -> Any:
    """A stored or literal value in the form values of `edm` compare in (None for empty)."""
    if value is None or value == "":
        return None
    if edm == "Edm.String":
        return str(value).casefold()
    if edm == "Edm.Guid":
        return str(value).strip("{}").lower()
    if edm == "Edm.DateTimeOffset":
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value, datetime.min.time())
        else:
            moment = isoparse(str(value))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if edm == "Edm.Date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return str(value)[:10]
    if edm == "Edm.Boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    if edm in NUMERIC:
        return value if isinstance(value, int | float) else float(value)
    return value


def row_value(row: Row, attribute: Attribute) -> Any:
    """The row's value of a column, normalised for comparison (a lookup's value is the target's id)."""
    return normalized(edm_type(attribute), row.get(attribute.logical_name))


# --- parsing -----------------------------------------------------------------------------------------------------
_LEXER = ODataLexer()
_PARSER = ODataParser()
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _bracket_lists(text: str) -> str:
    """Dataverse's query functions write PropertyValues=["a","b"]; odata-query reads lists as ('a','b')."""
    out: list[str] = []
    position = 0
    in_string = False
    while position < len(text):
        char = text[position]
        if char == "'":
            in_string = not in_string  # a doubled quote toggles twice: still right
        elif char == "[" and not in_string:
            end = text.find("]", position)
            if end < 0:
                raise QueryRefused(f"Syntax error: '[' at position {position} in '{text}' is never closed.")
            inner = text[position + 1 : end]
            items = [item.strip() for item in _split_items(inner) if item.strip()]
            quoted = []
            for item in items:
                found = _DOUBLE_QUOTED.fullmatch(item)
                quoted.append("'" + found.group(1).replace("'", "''") + "'" if found else item)
            out.append("(" + ",".join(quoted) + ("," if len(quoted) == 1 else "") + ")")
            position = end + 1
            continue
        out.append(char)
        position += 1
    return "".join(out)


def _split_items(inner: str) -> list[str]:
    items, current, quote = [], [], ""
    for char in inner:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def parse(text: str) -> ast._Node:
    source = _bracket_lists(text.strip())
    if not source:
        raise QueryRefused("The $filter query option is empty.")
    try:
        return _PARSER.parse(_LEXER.tokenize(source))
    except TokenizingException as exc:
        index = getattr(exc.token, "index", 0)
        raise QueryRefused(
            f"Syntax error: character '{source[index : index + 1]}' is not valid at position {index} in '{text}'."
        ) from None
    except ParsingException as exc:
        index = getattr(exc.token, "index", len(source))
        raise QueryRefused(f"Syntax error at position {index} in '{text}'.") from None
    except ODataException as exc:
        raise QueryRefused(str(exc)) from None


# --- compiling ---------------------------------------------------------------------------------------------------
def compile_filter(text: str, table: Table, *, now: datetime | None = None) -> Predicate:
    """The predicate of a `$filter` on `table`'s rows (raises QueryRefused as Dataverse would answer)."""
    return Compiler(table, now or datetime.now(UTC)).node(parse(text))


def matches(predicate: Predicate, row: Row) -> bool:
    return predicate(row) is True


def literal_of(node: ast._Node) -> tuple[str, Any]:
    """(Edm type, Python value) of a literal node."""
    if isinstance(node, ast.Null):
        return "null", None
    if isinstance(node, ast.Boolean):
        return "Edm.Boolean", node.py_val
    if isinstance(node, ast.Integer):
        return "Edm.Int32", node.py_val
    if isinstance(node, ast.Float):
        return "Edm.Decimal", node.py_val
    if isinstance(node, ast.String):
        return "Edm.String", node.py_val
    if isinstance(node, ast.GUID):
        return "Edm.Guid", node.val.lower()
    if isinstance(node, ast.DateTime):
        return "Edm.DateTimeOffset", node.val
    if isinstance(node, ast.Date):
        return "Edm.Date", node.val
    raise QueryRefused(f"The literal '{getattr(node, 'val', node)}' is not supported in a filter.")


def _compatible(column: str, literal: str) -> bool:
    if literal == "null" or column == literal:
        return True
    if column in NUMERIC and literal in NUMERIC:
        return True
    return column in TEMPORAL and literal in TEMPORAL


def _incompatible(left: str, right: str, kind: str) -> QueryRefused:
    return QueryRefused(
        "A binary operator with incompatible types was detected. "
        f"Found operand types '{left}' and '{right}' for operator kind '{kind}'."
    )


def _compare(kind: type, left: Any, right: Any) -> bool | None:
    if right is None:  # `x eq null` / `x ne null`: whether the row has a value
        if kind is ast.Eq:
            return left is None
        return left is not None if kind is ast.NotEq else None
    if left is None:  # a missing value compared with a value: unknown, as in SQL
        return None
    if kind is ast.Eq:
        return left == right
    if kind is ast.NotEq:
        return left != right
    if kind is ast.Gt:
        return left > right
    if kind is ast.GtE:
        return left >= right
    if kind is ast.Lt:
        return left < right
    return left <= right


class Compiler:
    def __init__(self, table: Table, now: datetime) -> None:
        self.table = table
        self.now = now

    def node(self, node: ast._Node) -> Predicate:
        if isinstance(node, ast.BoolOp):
            left, right = self.node(node.left), self.node(node.right)
            return _and(left, right) if isinstance(node.op, ast.And) else _or(left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.node(node.operand)
            return lambda row: None if (found := inner(row)) is None else not found
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Identifier):
            attribute = self.attribute(node)
            if edm_type(attribute) != "Edm.Boolean":
                raise QueryRefused(f"The $filter expression must evaluate to a single boolean value ('{node.name}').")
            return lambda row: row_value(row, attribute)
        if isinstance(node, ast.BinOp):
            raise QueryRefused("Arithmetic operators are not supported in a Dataverse $filter.")
        if isinstance(node, ast.Attribute | ast.CollectionLambda):
            raise QueryRefused("Navigation property paths and lambda operators are not supported by the emulator.")
        raise QueryRefused("The $filter expression must evaluate to a single boolean value.")

    def attribute(self, node: ast._Node) -> Attribute:
        if not isinstance(node, ast.Identifier) or node.namespace:
            raise QueryRefused("The left side of a comparison must be a property of the table.")
        return resolve_property(self.table, node.name)

    def compare(self, node: ast.Compare) -> Predicate:
        left, right = node.left, node.right
        if isinstance(node.comparator, ast.In):
            return self.in_list(left, right)
        kind = type(node.comparator)
        if not isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
            left, right = right, left
            kind = {ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Lt: ast.Gt, ast.LtE: ast.GtE}.get(kind, kind)
        attribute = self.attribute(left)
        column_edm = edm_type(attribute)
        if isinstance(right, ast.Identifier):  # column compared with column
            other = self.attribute(right)
            if not _compatible(column_edm, edm_type(other)):
                raise _incompatible(column_edm, edm_type(other), OPERATOR_KIND[kind])
            return lambda row: _compare(kind, row_value(row, attribute), normalized(column_edm, row_value(row, other)))
        literal_edm, literal = literal_of(right)
        if not _compatible(column_edm, literal_edm):
            raise _incompatible(column_edm, literal_edm, OPERATOR_KIND[kind])
        value = normalized(column_edm, literal)
        return lambda row: _compare(kind, row_value(row, attribute), value)

    def in_list(self, left: ast._Node, right: ast._Node) -> Predicate:
        attribute = self.attribute(left)
        column_edm = edm_type(attribute)
        values = set()
        for item in getattr(right, "val", []):
            literal_edm, literal = literal_of(item)
            if not _compatible(column_edm, literal_edm):
                raise _incompatible(column_edm, literal_edm, "In")
            values.add(normalized(column_edm, literal))
        return lambda row: None if (found := row_value(row, attribute)) is None else found in values

    def call(self, node: ast.Call) -> Predicate:
        name = node.func.name
        if node.func.namespace == CRM_NAMESPACE:
            return self.crm_function(name, node.args)
        if node.func.namespace or name not in TEXT_FUNCTIONS:
            raise QueryRefused(f"The '{node.func.full_name()}' function is not supported.")
        if len(node.args) != 2 or not isinstance(node.args[1], ast.String):
            raise QueryRefused(f"The '{name}' function takes a property and a string literal.")
        attribute = self.attribute(node.args[0])
        if edm_type(attribute) != "Edm.String":
            raise QueryRefused(
                f"No function signature for the function with name '{name}' matches the specified arguments. "
                f"The function signatures considered are: {name}(Edm.String Nullable=true, Edm.String)."
            )
        needle = node.args[1].val.casefold()
        test = {
            "contains": lambda text: needle in text,
            "startswith": lambda text: text.startswith(needle),
            "endswith": lambda text: text.endswith(needle),
        }[name]
        return lambda row: None if (found := row_value(row, attribute)) is None else test(found)

    def crm_function(self, name: str, args: list[ast._Node]) -> Predicate:
        params = {}
        for arg in args:
            if not isinstance(arg, ast.NamedParam):
                raise QueryRefused(f"'Microsoft.Dynamics.CRM.{name}' takes named parameters.")
            params[arg.name.name] = arg.param
        prop = params.get("PropertyName")
        if not isinstance(prop, ast.String):
            raise QueryRefused(f"'Microsoft.Dynamics.CRM.{name}' needs PropertyName='<column>'.")
        attribute = resolve_property(self.table, prop.val)
        edm = edm_type(attribute)

        def given(key: str, as_edm: str = edm) -> list[Any]:
            raw = params.get(key)
            if raw is None:
                raise QueryRefused(f"'Microsoft.Dynamics.CRM.{name}' needs {key}.")
            items = raw.val if isinstance(raw, ast.List) else [raw]
            try:
                return [normalized(as_edm, item.py_val) for item in items]
            except (ValueError, TypeError, AttributeError):
                raise QueryRefused(f"The values of 'Microsoft.Dynamics.CRM.{name}' do not fit '{prop.val}'.") from None

        def value_of(row: Row) -> Any:
            return row_value(row, attribute)

        if name in ("Null", "NotNull"):
            want_null = name == "Null"
            return lambda row: (value_of(row) is None) == want_null
        if name in ("In", "NotIn"):
            values, inside = set(given("PropertyValues")), name == "In"
            return lambda row: None if (found := value_of(row)) is None else (found in values) == inside
        if name in ("Between", "NotBetween"):
            bounds = given("PropertyValues")
            if len(bounds) != 2:
                raise QueryRefused(f"'Microsoft.Dynamics.CRM.{name}' takes two PropertyValues.")
            low, high = bounds
            inside = name == "Between"
            return lambda row: None if (found := value_of(row)) is None else (low <= found <= high) == inside
        if name in ("On", "OnOrAfter", "OnOrBefore"):
            (day,) = given("PropertyValue", "Edm.Date")
            check = {
                "On": lambda found: found == day,
                "OnOrAfter": lambda found: found >= day,
                "OnOrBefore": lambda found: found <= day,
            }[name]
            return lambda row: None if (found := normalized("Edm.Date", value_of(row))) is None else check(found)
        if name in ("LastXHours", "LastXDays"):
            (count,) = given("PropertyValue", "Edm.Int32")
            unit = timedelta(hours=1) if name == "LastXHours" else timedelta(days=1)
            since = self.now - unit * int(count)
            if name == "LastXDays":
                since = since.replace(hour=0, minute=0, second=0, microsecond=0)
            return lambda row: None if (found := value_of(row)) is None else since <= found <= self.now
        raise QueryRefused(f"'Microsoft.Dynamics.CRM.{name}' is not a function the emulator supports.")


def _and(left: Predicate, right: Predicate) -> Predicate:
    def both(row: Row) -> bool | None:
        first = left(row)
        if first is False:
            return False
        second = right(row)
        if second is False:
            return False
        return None if first is None or second is None else True

    return both


def _or(left: Predicate, right: Predicate) -> Predicate:
    def either(row: Row) -> bool | None:
        first = left(row)
        if first is True:
            return True
        second = right(row)
        if second is True:
            return True
        return None if first is None or second is None else False

    return either
