"""COQL's 400 errors, in Zoho's single-error envelope `{code, details, message, status: "error"}`
(docs/vendors/zoho-crm.md, COQL)."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from sandbox.http import zoho_error


class CoqlError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, *, status: int = 400) -> None:
        super().__init__(f"{code}: {message} {details or {}}")
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status

    def response(self) -> Response:
        return zoho_error(self.code, self.message, status=self.status, details=self.details)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


# --- SYNTAX_ERROR variants (the four shapes of the v8 OAS examples) ------------------------------------------
def unexpected_token(line: int, column: int, near: str) -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "unexpected token", {"line": line, "column": column, "near": near})


def missing_clause(clause: str) -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "missing clause", {"clause": clause})


def operator_not_supported(operator: str) -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "operator not supported", {"operator": operator})


def parse_error_near(near: str) -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "error occured while parsing the query", {"near": near})  # Zoho's spelling


def query_not_supported() -> CoqlError:
    return CoqlError("SYNTAX_ERROR", "given coql query not supported")


# --- INVALID_QUERY, INVALID_DATA, LIMIT_EXCEEDED, ... -----------------------------------------------------------
def unsupported_column(column: str) -> CoqlError:
    return CoqlError("INVALID_QUERY", "unsupported column", {"column_name": column})


def invalid_column(column: str, clause: str) -> CoqlError:
    """A column of WHERE or ORDER BY that the module does not have (UNCONFIRMED wording, from the OAS enum)."""
    return CoqlError("INVALID_QUERY", "column given seems to be invalid", {"column_name": column, "clause": clause})


def invalid_operator(column: str, operator: str) -> CoqlError:
    return CoqlError(
        "INVALID_QUERY",
        "Invalid query formed",
        {"reason": "invalid operator found", "column_name": column, "operator": operator},
    )


def invalid_value(column: str, expected: str) -> CoqlError:
    """A value the column's data type cannot hold (UNCONFIRMED details; the message is from the OAS enum)."""
    return CoqlError(
        "INVALID_QUERY",
        "value given seems to be invalid for the column",
        {"column_name": column, "expected_data_type": expected},
    )


def invalid_limit(text: str) -> CoqlError:
    return CoqlError("INVALID_QUERY", "limit given seems to be invalid", {"limit": text})


def invalid_offset(text: str) -> CoqlError:
    return CoqlError("INVALID_QUERY", "offset given seems to be invalid", {"offset": text})


def limit_not_positive() -> CoqlError:
    return CoqlError("INVALID_DATA", "limit should be greater than 0")


def limit_exceeded(details: dict[str, Any]) -> CoqlError:
    return CoqlError("LIMIT_EXCEEDED", "limit exceeded", details)


def duplicate_column(column: str, clause: str = "select") -> CoqlError:
    message = "duplicate select column" if clause == "select" else f"duplicate {clause} column"
    return CoqlError("DUPLICATE_DATA", message, {"column_name": column})


def invalid_module() -> CoqlError:
    return CoqlError("INVALID_MODULE", "the given module is not supported in api")


def mandatory_not_found(api_name: str = "select_query") -> CoqlError:
    return CoqlError("MANDATORY_NOT_FOUND", "mandatory key not found", {"api_name": api_name})


def invalid_data(details: dict[str, Any]) -> CoqlError:
    return CoqlError("INVALID_DATA", "invalid data", details)
