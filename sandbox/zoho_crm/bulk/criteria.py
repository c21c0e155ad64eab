"""Bulk Read criteria, shared with workflow rules: validation into a predicate, and Zoho's comparators."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

from sandbox.http import zoho_error
from sandbox.zoho_crm.store import parse_zoho_datetime

# Fields every record has even when the module's field metadata does not list them.
SYSTEM_FIELDS = frozenset({"id", "Owner", "Created_Time", "Modified_Time", "Created_By", "Modified_By"})

COMPARATORS = (
    "equal",
    "not_equal",
    "in",
    "not_in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
    "not_between",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
)
MAX_CRITERIA = 25
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
Predicate = Callable[[dict[str, Any]], bool]


class CriteriaError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def response(self) -> Response:
        return zoho_error(self.code, self.message, details=self.details)


def compile_criteria(criteria: Any, known_fields: set[str] | None = None) -> Predicate:
    """Validate a Bulk Read criteria object ({group_operator, group} or {api_name|field, comparator, value}) and
    return a predicate over records. `known_fields` (when given) rejects unknown fields."""
    leaves = [0]
    predicate = _compile(criteria, known_fields, leaves)
    if leaves[0] > MAX_CRITERIA:
        raise CriteriaError("CRITERIA_LIMIT_EXCEEDED", "criteria limit exceeded", {"maximum_length": MAX_CRITERIA})
    return predicate


def _compile(node: Any, known: set[str] | None, leaves: list[int]) -> Predicate:
    if not isinstance(node, dict):
        raise CriteriaError("INVALID_CRITERIA", "invalid criteria", {"api_name": "criteria"})
    if "group" in node:
        operator = node.get("group_operator")
        if not isinstance(operator, str) or operator.lower() not in ("and", "or"):
            raise CriteriaError(
                "GROUP_OPERATOR_NOT_SUPPORTED",
                "the given group operator is not supported",
                {"api_name": "group_operator", "supported": ["and", "or"]},
            )
        group = node.get("group")
        if not isinstance(group, list) or not group:
            raise CriteriaError("INVALID_CRITERIA", "invalid criteria", {"api_name": "group"})
        parts = [_compile(child, known, leaves) for child in group]
        if operator.lower() == "and":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    leaves[0] += 1
    name = field_name(node)
    if name is None:
        raise CriteriaError("INVALID_CRITERIA", "invalid criteria", {"api_name": "api_name"})
    base = name.split(".", 1)[0]
    if known and base not in known and base not in SYSTEM_FIELDS:
        raise CriteriaError("FIELD_IN_CRITERIA_NOT_AVAILABLE", "the given field is not available", {"api_name": name})
    comparator = node.get("comparator")
    if comparator not in COMPARATORS:
        raise CriteriaError(
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            "the given comparator is not supported for the field",
            {"comparator": str(comparator), "api_name": name, "supported": list(COMPARATORS)},
        )
    value = node.get("value")
    if comparator in ("in", "not_in") and not isinstance(value, list):
        value = [value]
    if comparator in ("between", "not_between") and not (isinstance(value, list) and len(value) == 2):
        raise CriteriaError(
            "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE",
            "the value is not compatible with the comparator",
            {"comparator": comparator, "api_name": name},
        )
    return _leaf(name, comparator, value)


def field_name(node: dict[str, Any]) -> str | None:
    """A criteria leaf's field: `api_name`, or `field.api_name`; None when neither is a non-empty string."""
    name = node.get("api_name")
    if name is None and isinstance(node.get("field"), dict):
        name = node["field"].get("api_name")
    return name if isinstance(name, str) and name else None


def _leaf(name: str, comparator: str, value: Any) -> Predicate:
    def get(record: dict[str, Any]) -> Any:
        if "." in name:
            base, sub = name.split(".", 1)
            found = record.get(base)
            return found.get(sub) if isinstance(found, dict) else None
        return record.get(name)

    def predicate(record: dict[str, Any]) -> bool:
        return compare(get(record), comparator, value)

    return predicate


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _scalar(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _keys(left: Any, right: Any) -> tuple[Any, Any] | None:
    """Comparable forms of a record value and a criteria value, or None when they cannot be compared."""
    if left is None or right is None:
        return None
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower(), str(right).lower()
    if isinstance(left, int | float):
        try:
            return float(left), float(right)
        except (TypeError, ValueError):
            return None
    left_text, right_text = str(left), str(right)
    if _DATETIME.match(left_text) and _DATETIME.match(right_text):
        try:
            return parse_zoho_datetime(left_text), parse_zoho_datetime(right_text)
        except ValueError:
            pass
    return left_text.casefold(), right_text.casefold()


def _equal(left: Any, right: Any) -> bool:
    if right is None or right == "${EMPTY}":
        return _is_empty(left)
    left = _scalar(left)
    if isinstance(left, list):
        return any(_equal(item, right) for item in left)
    pair = _keys(left, _scalar(right))
    return pair is not None and pair[0] == pair[1]


def _order(left: Any, right: Any, test: Callable[[Any, Any], bool]) -> bool:
    pair = _keys(_scalar(left), _scalar(right))
    if pair is None:
        return False
    try:
        return test(*pair)
    except TypeError:  # e.g. an aware datetime against a plain date string
        return False


def compare(left: Any, comparator: str, right: Any) -> bool:
    """Zoho's comparators: text is compared case-insensitively, lookups by id, datetimes as instants."""
    if comparator == "equal":
        return _equal(left, right)
    if comparator == "not_equal":
        return not _equal(left, right)
    if comparator == "in":
        return any(_equal(left, item) for item in right)
    if comparator == "not_in":
        return not any(_equal(left, item) for item in right)
    if comparator == "greater_than":
        return _order(left, right, lambda a, b: a > b)
    if comparator == "greater_equal":
        return _order(left, right, lambda a, b: a >= b)
    if comparator == "less_than":
        return _order(left, right, lambda a, b: a < b)
    if comparator == "less_equal":
        return _order(left, right, lambda a, b: a <= b)
    if comparator == "between":
        return _order(left, right[0], lambda a, b: a >= b) and _order(left, right[1], lambda a, b: a <= b)
    if comparator == "not_between":
        return not compare(left, "between", right)
    text = "" if _is_empty(left) else str(_scalar(left)).casefold()
    needle = "" if right is None else str(right).casefold()
    if comparator == "contains":
        return needle in text
    if comparator == "not_contains":
        return needle not in text
    if comparator == "starts_with":
        return text.startswith(needle)
    if comparator == "ends_with":
        return text.endswith(needle)
    return False
