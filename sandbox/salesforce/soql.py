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

Layout: `soql_parse` (errors, tokenizer, AST, parser), `soql_compile` (describe metadata, compiling to predicates
and sort keys), `soql_plan` (keyset analysis and the runner). This module re-exports their public names, so
callers write `soql.parse(...)`, `soql.compile_query(...)`, `soql.run(...)`.
"""

from sandbox.salesforce.soql_compile import (
    COMPOUND_TYPES,
    ID_TYPES,
    LONG_TEXT_LENGTH,
    NUMBER_TYPES,
    TEXT_TYPES,
    Catalog,
    Column,
    Compiled,
    Entity,
    Getter,
    Test,
    compile_query,
)
from sandbox.salesforce.soql_parse import (
    DATE_LITERALS,
    DATE_N_LITERALS,
    KEYWORDS,
    LIKE_ANY,
    LIKE_ONE,
    MAX_OFFSET,
    BoolOp,
    Comparison,
    Count,
    Expr,
    FieldPath,
    Literal,
    Not,
    OrderItem,
    Query,
    Record,
    SoqlError,
    Token,
    epoch,
    malformed,
    no_such_column,
    no_such_relation,
    parse,
    parse_datetime,
    plain,
    record_id,
    to18,
    tokenize,
    unsupported_type,
)
from sandbox.salesforce.soql_plan import (
    MODSTAMP,
    Keyset,
    Source,
    count_only,
    id_members_of,
    keyset_of,
    run,
)

__all__ = [
    "COMPOUND_TYPES",
    "DATE_LITERALS",
    "DATE_N_LITERALS",
    "ID_TYPES",
    "KEYWORDS",
    "LIKE_ANY",
    "LIKE_ONE",
    "LONG_TEXT_LENGTH",
    "MAX_OFFSET",
    "MODSTAMP",
    "NUMBER_TYPES",
    "TEXT_TYPES",
    "BoolOp",
    "Catalog",
    "Column",
    "Comparison",
    "Compiled",
    "Count",
    "Entity",
    "Expr",
    "FieldPath",
    "Getter",
    "Keyset",
    "Literal",
    "Not",
    "OrderItem",
    "Query",
    "Record",
    "SoqlError",
    "Source",
    "Test",
    "Token",
    "compile_query",
    "count_only",
    "epoch",
    "id_members_of",
    "keyset_of",
    "malformed",
    "no_such_column",
    "no_such_relation",
    "parse",
    "parse_datetime",
    "plain",
    "record_id",
    "run",
    "to18",
    "tokenize",
    "unsupported_type",
]
