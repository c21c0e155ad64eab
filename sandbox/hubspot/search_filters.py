"""The search request (sandbox/hubspot/search.py runs it): the body checked against HubSpot's limits, and each filter
turned into a `Condition` that tests one record's raw value.

Values compare by the property's type: numbers (hs_object_id too) numerically, datetimes by epoch milliseconds
given as digits or ISO text, dates by their UTC midnight, booleans as true/false, everything else as text without
regard to case (HubSpot's string matching ignores case). Records without the property match only NEQ, NOT_IN,
NOT_HAS_PROPERTY and NOT_CONTAINS_TOKEN. CONTAINS_TOKEN matches whole tokens, `*` standing for any run of
characters (`*@example.com`). UNCONFIRMED: the error messages' wording (their category, VALIDATION_ERROR, and
status 400 are HubSpot's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
MATCH_MISSING = frozenset({"NEQ", "NOT_IN", "NOT_HAS_PROPERTY", "NOT_CONTAINS_TOKEN"})
NUMERIC_TYPES = frozenset({"number"})
ID_PROPERTY = "hs_object_id"
DEFAULT_LIMIT = 10
SECONDLY_MESSAGE = "You have reached your secondly limit."

ValueOf = Callable[[dict[str, Any], str], "str | None"]
TypeOf = Callable[[str], str]


class SearchRefused(Exception):
    """A search HubSpot would refuse: answered `{status: "error", message, category}` with `status`."""

    def __init__(self, message: str, *, status: int = 400, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category


# --- values ----------------------------------------------------------------------------------------------------
def epoch_ms(text: Any) -> float | None:
    """A datetime value as epoch milliseconds: digits (ms), or ISO text (a date alone is its UTC midnight)."""
    if text is None:
        return None
    value = str(text).strip()
    if not value:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    return _iso_ms(value)


@lru_cache(maxsize=65536)
def _iso_ms(value: str) -> float | None:
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        return None
    return round(moment.timestamp() * 1000, 3)


def date_ms(text: Any) -> float | None:
    """A date value as the epoch milliseconds of its UTC midnight (HubSpot stores dates so)."""
    found = epoch_ms(text)
    if found is None:
        return None
    return float(found - found % 86_400_000)


def normalized(kind: str, raw: Any) -> Any:
    """A value in the form it compares in, by the property's type; None when it is missing or not of the type."""
    if raw is None or raw == "":
        return None
    if kind in NUMERIC_TYPES or kind == "id":
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    if kind == "datetime":
        return epoch_ms(raw)
    if kind == "date":
        return date_ms(raw)
    if kind == "bool":
        text = str(raw).strip().lower()
        return text == "true" if text in ("true", "false") else None
    return str(raw).strip().casefold()


_SPLIT = re.compile(r"[\s,;:()\[\]{}<>\"'!?/\\|]+")
_WORDS = re.compile(r"[^\W_]+")


def tokens(raw: str) -> set[str]:
    """What CONTAINS_TOKEN matches against: the whole value, its whitespace/punctuation-separated parts (an email
    stays one part) and their alphanumeric words, without case."""
    text = raw.casefold()
    parts = {part for part in _SPLIT.split(text) if part}
    words = {word for part in parts for word in _WORDS.findall(part)}
    return {text.strip(), *parts, *words}


@lru_cache(maxsize=1024)
def _token_pattern(value: str) -> re.Pattern[str] | None:
    if "*" not in value:
        return None
    return re.compile(".*".join(re.escape(piece) for piece in value.casefold().split("*")), re.DOTALL)


def contains_token(raw: str | None, value: str) -> bool:
    if raw is None or raw == "":
        return False
    found = tokens(str(raw))
    pattern = _token_pattern(value)
    if pattern is not None:
        return any(pattern.fullmatch(token) for token in found)
    wanted = value.casefold().strip()
    if wanted in found:
        return True
    words = [word for word in _SPLIT.split(wanted) if word]
    return len(words) > 1 and all(word in found for word in words)


# --- filters ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One filter, its values already in the property's comparable form."""

    name: str
    operator: str
    kind: str
    value: Any = None
    high: Any = None
    values: tuple[Any, ...] = ()
    text: str = ""  # the raw value, for CONTAINS_TOKEN

    def test(self, raw: Any) -> bool:
        op = self.operator
        if op == "HAS_PROPERTY":
            return raw is not None and raw != ""
        if op == "NOT_HAS_PROPERTY":
            return raw is None or raw == ""
        if op == "CONTAINS_TOKEN":
            return contains_token(raw, self.text)
        if op == "NOT_CONTAINS_TOKEN":
            return not contains_token(raw, self.text)
        value = normalized(self.kind, raw)
        if value is None:
            return op in MATCH_MISSING
        if op == "EQ":
            return value == self.value
        if op == "NEQ":
            return value != self.value
        if op == "IN":
            return value in self.values
        if op == "NOT_IN":
            return value not in self.values
        if op == "BETWEEN":
            return self.value <= value <= self.high
        if op == "LT":
            return value < self.value
        if op == "LTE":
            return value <= self.value
        if op == "GT":
            return value > self.value
        return value >= self.value  # GTE


def _comparable(kind: str, raw: Any, name: str) -> Any:
    value = normalized(kind, raw)
    if value is None:
        raise SearchRefused(f"Invalid value '{raw}' for property {name} of type {kind}")
    return value


def condition(spec: Any, type_of: TypeOf) -> Condition:
    """A filter of the request, checked as HubSpot checks it."""
    if not isinstance(spec, dict):
        raise SearchRefused("Invalid input JSON: a filter must be an object")
    name, op = spec.get("propertyName"), str(spec.get("operator") or "EQ").upper()
    if not isinstance(name, str) or not name:
        raise SearchRefused("Invalid input JSON: filters need a propertyName")
    if op not in OPERATORS:
        raise SearchRefused(f"Invalid input JSON: Cannot deserialize value of type `FilterOperatorEnum` from '{op}'")
    kind = "id" if name == ID_PROPERTY else type_of(name)
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Condition(name, op, kind)
    if op in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise SearchRefused(f"operator {op} requires values")
        return Condition(name, op, kind, values=tuple(_comparable(kind, item, name) for item in values))
    if "value" not in spec or spec["value"] is None:
        raise SearchRefused(f"operator {op} requires a value")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return Condition(name, op, kind, text=str(spec["value"]))
    value = _comparable(kind, spec["value"], name)
    if op == "BETWEEN":
        if spec.get("highValue") is None:
            raise SearchRefused("operator BETWEEN requires a highValue")
        return Condition(name, op, kind, value=value, high=_comparable(kind, spec["highValue"], name))
    return Condition(name, op, kind, value=value)


def group_matches(group: Sequence[Condition], record: dict[str, Any], value_of: ValueOf) -> bool:
    return all(item.test(value_of(record, item.name)) for item in group)


# --- the request -----------------------------------------------------------------------------------------------
@dataclass
class Sort:
    name: str
    descending: bool = False
    kind: str = "string"


@dataclass
class SearchRequest:
    groups: list[list[Condition]] = field(default_factory=list)  # OR of ANDs; none: every record
    sort: Sort | None = None
    properties: list[str] | None = None
    limit: int = DEFAULT_LIMIT
    after: int = 0
    query: str = ""
    cap: int = 10_000  # no result past this many is ever returned


def _sort(spec: Any, type_of: TypeOf) -> Sort:
    if isinstance(spec, str):
        descending = spec.startswith("-")
        name = spec.lstrip("-")
    elif isinstance(spec, dict) and isinstance(spec.get("propertyName"), str):
        name = spec["propertyName"]
        descending = str(spec.get("direction") or "ASCENDING").upper() == "DESCENDING"
    else:
        raise SearchRefused("Invalid input JSON: a sort is a property name or {propertyName, direction}")
    return Sort(name, descending, "id" if name == ID_PROPERTY else type_of(name))


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise SearchRefused(f"Invalid input JSON: {name} must be an integer, was '{value}'") from None


def parse_request(body: Any, config: Any, type_of: TypeOf) -> SearchRequest:
    """The search body, with HubSpot's limits (see the module docstring)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise SearchRefused("Invalid input JSON: the body must be a JSON object")
    groups_spec = body.get("filterGroups") or []
    if body.get("filters"):  # filters at the top level: one group (the API takes them so)
        groups_spec = [*groups_spec, {"filters": body["filters"]}]
    if not isinstance(groups_spec, list):
        raise SearchRefused("Invalid input JSON: filterGroups must be a list")
    groups_max, per_group_max, total_max = (
        config.hs_search_filter_groups_max,
        config.hs_search_filters_per_group_max,
        config.hs_search_filters_max,
    )
    if len(groups_spec) > groups_max:
        raise SearchRefused(
            f"Too many filter groups ({len(groups_spec)}). The maximum number of filter groups is {groups_max}."
        )
    groups: list[list[Condition]] = []
    for group in groups_spec:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchRefused("Invalid input JSON: a filter group needs filters")
        if len(filters) > per_group_max:
            raise SearchRefused(
                f"Too many filters in a filter group ({len(filters)}). The maximum number of filters per group is "
                f"{per_group_max}."
            )
        groups.append([condition(spec, type_of) for spec in filters])
    count = sum(len(group) for group in groups)
    if count > total_max:
        raise SearchRefused(f"Too many filters ({count}). The maximum number of filters is {total_max}.")
    sorts_spec = body.get("sorts") or []
    if not isinstance(sorts_spec, list):
        raise SearchRefused("Invalid input JSON: sorts must be a list")
    if len(sorts_spec) > config.hs_search_sorts_max:
        raise SearchRefused(
            f"Too many sorts ({len(sorts_spec)}). The maximum number of sorts is {config.hs_search_sorts_max}."
        )
    sorts = [_sort(spec, type_of) for spec in sorts_spec]
    limit = _int(body.get("limit", DEFAULT_LIMIT), "limit")
    if limit < 0 or limit > config.hs_search_page_max:
        raise SearchRefused(f"limit must be between 0 and {config.hs_search_page_max}, was {limit}")
    after = _int(body.get("after") or 0, "after")
    if after < 0:
        raise SearchRefused(f"after must be 0 or more, was {after}")
    if after >= config.hs_search_max_results:
        raise SearchRefused(
            f"The search cannot page past {config.hs_search_max_results:,} results (after={after}). Narrow the "
            "filters instead."
        )
    properties = body.get("properties")
    if properties is not None and not isinstance(properties, list):
        raise SearchRefused("Invalid input JSON: properties must be a list")
    return SearchRequest(
        groups=groups,
        sort=sorts[0] if sorts else None,
        properties=[str(name) for name in properties] if properties else None,
        limit=limit,
        after=after,
        query=str(body.get("query") or "").strip(),
        cap=config.hs_search_max_results,
    )
