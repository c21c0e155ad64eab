"""Keyset ("cursor") pagination, newest first by (a time, id): stable while rows arrive, no OFFSET scans.

DRF's CursorPagination positions on the first ordering field only and falls back to an offset for ties; a thread
of texts with equal timestamps is exactly that case, so the cursor here carries both the time and the id.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

# Our cursors are about 60 characters; ids are PostgreSQL bigints.
MAX_CURSOR_LENGTH = 200
MAX_ID = 2**63 - 1


def _no_constant(name: str) -> None:
    raise ValueError(name)  # Infinity, -Infinity, NaN: Python's json reads them, no cursor of ours holds one


class KeysetPagination(BasePagination):
    """Pages of `page_size` rows (model instances or `.values()` dicts) ordered by (`time_field` desc, id desc);
    `next` carries the last row's key."""

    time_field = "created_at"
    page_size = 50
    max_page_size = 200
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.request = request
        size = self._page_size(request)
        queryset = queryset.order_by(f"-{self.time_field}", "-id")
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            when, pk = self._decode(raw)
            field = self.time_field
            queryset = queryset.filter(Q(**{f"{field}__lt": when}) | Q(**{field: when, "id__lt": pk}))
        rows = list(queryset[: size + 1])
        self.next_cursor = self._encode(rows[size - 1]) if len(rows) > size else None
        return rows[:size]

    def paginate_rows(self, fetch: Callable[[tuple[Any, int] | None, int], list], request: Request) -> list:
        """The same page from a reader written in SQL: `fetch(before, limit)` returns up to `limit` rows ordered as
        above and older than `before` = (time, id), or from the newest when it is None."""
        self.request = request
        size = self._page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        rows = fetch(self._decode(raw) if raw else None, size + 1)
        self.next_cursor = self._encode(rows[size - 1]) if len(rows) > size else None
        return rows[:size]

    def get_paginated_response(self, data: list) -> Response:
        return Response({"next": self._next_link(), "next_cursor": self.next_cursor, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next", "next_cursor", "results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "next_cursor": {"type": "string", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "The `next_cursor` of the previous page.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
        ]

    def _page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: ["A whole number."]}) from None
        return max(1, min(size, self.max_page_size))

    def _encode(self, row: Any) -> str:
        if isinstance(row, dict):  # a row read with .values()
            key = [row[self.time_field].isoformat(), row["id"]]
        else:
            key = [getattr(row, self.time_field).isoformat(), row.pk]
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")

    def _decode(self, raw: str) -> tuple[datetime, int]:
        """Only what `_encode` could have written: an aware time that converts to UTC and a row id in the id column's
        range. Anything else (Infinity, NaN, huge or negative numbers, a naive or year-1 time, garbage) is a 400,
        never a query PostgreSQL or Python's datetime would refuse. A cursor from another thread is only a position:
        the page is still read from this one."""
        try:
            if len(raw) > MAX_CURSOR_LENGTH:
                raise ValueError("too long")
            key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), parse_constant=_no_constant)
            if not (isinstance(key, list) and len(key) == 2 and isinstance(key[0], str) and type(key[1]) is int):
                raise ValueError("not [time, id]")
            when, pk = parse_datetime(key[0]), key[1]
            if when is None or when.tzinfo is None or not 0 < pk <= MAX_ID:
                raise ValueError("out of range")
            return when.astimezone(UTC), pk
        except (ValueError, TypeError, OverflowError):
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None

    def _next_link(self) -> str | None:
        if self.next_cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(
            remove_query_param(url, self.cursor_query_param), self.cursor_query_param, self.next_cursor
        )


class MessagePagination(KeysetPagination):
    time_field = "created_at"


class ConversationPagination(KeysetPagination):
    """Conversations by latest activity: `activity_at` is annotated by the view (last text, else creation)."""

    time_field = "activity_at"
    page_size = 25
