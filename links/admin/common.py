"""What the pages of two-way sync share: how a value and a lag are shown, the links from a record id to its page
in its CRM (one provider per connection and page), a write's fields old → new, a list of problems, and the state
filters that start on the queue people act on (failed writes, open reviews).
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from links.models import LinkObject, LinkWrite, MatchReview, RecordPair, SyncLink

logger = structlog.get_logger(__name__)

BR = mark_safe("<br>")  # a line break between escaped lines


def seconds_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def value_text(value: Any) -> str:
    return (
        "∅"
        if value in (None, "", [], {})
        else json.dumps(value, ensure_ascii=False)
        if not isinstance(value, str)
        else value
    )


class RecordLinks:
    """The CRM pages of the records one admin page shows: one provider per connection (a provider may read its
    connection's row to build a URL: once a page, not once a row). No call to a CRM is made."""

    def __init__(self) -> None:
        self._providers: dict[int, Any] = {}

    def url(self, connection: Any, object: str, record_id: str) -> str:
        """The record's page in its CRM ("" when the provider cannot say)."""
        if not record_id:
            return ""
        from crm.registry import provider_for

        try:
            if connection.pk not in self._providers:
                self._providers[connection.pk] = provider_for(connection)
            return self._providers[connection.pk].record_url(object=object, record_id=record_id)
        except Exception:
            # Deliberately swallowed: a link for a person to click, never worth breaking the page over.
            logger.exception("links.admin.record_url_failed", connection_id=getattr(connection, "pk", None))
            return ""

    def link(self, connection: Any, object: str, record_id: str):
        """A record id, linked to its page in the CRM where the provider can say."""
        if not record_id:
            return "—"
        url = self.url(connection, object, record_id)
        if url:
            return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, record_id)
        return record_id

    def pair(self, pair: RecordPair, link: SyncLink | None = None, link_object: LinkObject | None = None):
        """Both records of a pair, each linked to its CRM (`link` and `link_object` when the caller has them)."""
        link, link_object = link or pair.link, link_object or pair.link_object
        return format_html(
            "A {} ⇄ B {}",
            self.link(link.connection_a, link_object.object_a, pair.id_a),
            self.link(link.connection_b, link_object.object_b, pair.id_b),
        )


def record_links(obj: Any) -> RecordLinks:
    """The page's RecordLinks a changelist gave its rows, else one of the row's own (an object page)."""
    return getattr(obj, "_record_links", None) or RecordLinks()


class RecordLinksMixin:
    """Gives a changelist's rows one RecordLinks."""

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        links = RecordLinks()
        for row in changelist.result_list:
            row._record_links = links
        return changelist


def changes_table(write: LinkWrite):
    """A write's fields, old → new."""
    rows = [
        (name, value_text(write.previous.get(name)), value_text(value)) for name, value in sorted(write.values.items())
    ]
    if not rows:
        return "—"
    return format_html_join(BR, "{}: {} → {}", rows)


def problems_html(problems: list[str]):
    return format_html_join(BR, "{}", [(problem,) for problem in problems])


class DefaultStateFilter(admin.SimpleListFilter):
    """A state filter that starts on the states people act on (the queue), with "all" for the rest."""

    tenant_scoped = True  # its choices are the model's states, nothing of a tenant
    parameter_name = "state"
    title = "state"
    default: str
    states: list[tuple[str, str]]

    def lookups(self, request: HttpRequest, model_admin: Any):
        return [*self.states, ("all", "All")]

    def choices(self, changelist: Any):
        current = self.value() or self.default
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset):
        value = self.value() or self.default
        if value == "all":
            return queryset
        return queryset.filter(state=value)


class WriteStateFilter(DefaultStateFilter):
    default = LinkWrite.State.FAILED
    states = list(LinkWrite.State.choices)


class ReviewStateFilter(DefaultStateFilter):
    default = MatchReview.State.OPEN
    states = list(MatchReview.State.choices)
