"""The managers' admin of two-way sync: links (with their objects and field mappings, the last preview and what
is wrong with the configuration; preview, start, pause and resume), the failed-writes queue (retry, skip) and the
history of done writes, conflicts, match reviews (link, create, ignore) and the id map. Scoped like every admin
page (core.admin): a manager sees their organization only, operators every one, staff nothing.

No CRM call inside a transaction: the pages whose actions or forms ask a CRM (the link list's actions, the link's
change form, which warms the field metadata the problems are checked against) run without the request's
transaction; the engine's functions open their own.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin, TenantTabularInline
from core.exceptions import ApplicationError
from crm.errors import CrmError
from links.models import (
    LinkConflict,
    LinkField,
    LinkObject,
    LinkWrite,
    MatchReview,
    RecordPair,
    Side,
    SyncLink,
    other_side,
)
from links.selectors import LinkStatus, field_history, link_status, links_status_of
from sync.models import CrmPhone, CrmRecord

logger = structlog.get_logger(__name__)

LIST_ERROR_CHARS = 160
BR = mark_safe("<br>")  # a line break between escaped lines


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _value(value: Any) -> str:
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
    rows = [(name, _value(write.previous.get(name)), _value(value)) for name, value in sorted(write.values.items())]
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


# --- links ------------------------------------------------------------------------------------------------------


class SyncLinkForm(forms.ModelForm):
    class Meta:
        model = SyncLink
        fields = ["organization", "name", "connection_a", "connection_b", "time_zone", "owners"]

    def clean(self) -> dict[str, Any]:
        from crm.registry import connection_kinds

        data = super().clean()
        organization = data.get("organization") or getattr(self.instance, "organization", None)
        for side in ("connection_a", "connection_b"):
            connection = data.get(side)
            if connection is not None and organization is not None and connection.organization_id != organization.pk:
                raise ValidationError({side: f"{connection.name} belongs to another organization."})
            if connection is not None and connection.kind not in connection_kinds():
                raise ValidationError({side: f"{connection.name} is not a CRM connection."})
        return data


class LinkObjectInline(TenantTabularInline):
    model = LinkObject
    extra = 0
    show_change_link = True  # its field mappings are edited on its own page
    fields = [
        "position",
        "object_a",
        "object_b",
        "external_id_a",
        "external_id_b",
        "match_by",
        "create_a",
        "create_b",
        "deletes",
        "archive_a",
        "archive_b",
    ]


def _organization_fill(formset: Any, organization_id: int) -> None:
    """Rows added inline belong to their parent's organization (never a choice in the form)."""
    instances = formset.save(commit=False)
    for instance in instances:
        instance.organization_id = organization_id
        instance.save()
    for deleted in formset.deleted_objects:
        deleted.delete()
    formset.save_m2m()


@admin.register(SyncLink)
class SyncLinkAdmin(TenantModelAdmin):
    form = SyncLinkForm
    change_form_template = "admin/links/synclink/change_form.html"
    list_display = ["name", "organization", "sides", "state", "pending", "failed", "conflicts", "reviews", "lag"]
    list_filter = ["organization", "state"]
    search_fields = ["name"]
    readonly_fields = [
        "state",
        "status",
        "started_at",
        "first_sync_done_at",
        "paused_at",
        "pause_reason",
        "alert_state",
        "alert_sent_at",
    ]
    inlines = [LinkObjectInline]
    actions = ["preview", "start", "pause", "resume"]
    ordering = ["organization__name", "name"]

    def get_fields(self, request: HttpRequest, obj: SyncLink | None = None):
        return [*SyncLinkForm.Meta.fields, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: SyncLink | None = None):
        if obj is not None and obj.state != SyncLink.State.DRAFT:
            # The sides of a link that has written are what its id map means: a new pair of CRMs is a new link.
            return ["connection_a", "connection_b", *self.readonly_fields]
        return self.readonly_fields

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("organization", "connection_a", "connection_b")

    def get_changelist_instance(self, request: HttpRequest):
        """The page's rows get their status in a few queries for all of them (not a handful per row)."""
        changelist = super().get_changelist_instance(request)
        for status in links_status_of(list(changelist.result_list)):
            status.link._status = status
        return changelist

    def _status(self, obj: SyncLink) -> LinkStatus:
        if not hasattr(obj, "_status"):
            obj._status = link_status(obj)
        return obj._status

    @admin.display(description="sides")
    def sides(self, obj: SyncLink) -> str:
        return f"{obj.connection_a.name} ⇄ {obj.connection_b.name}"

    @admin.display(description="pending (changes / writes)")
    def pending(self, obj: SyncLink) -> str:
        status = self._status(obj)
        return f"{status.pending_changes} / {status.pending_writes}"

    @admin.display(description="failed writes")
    def failed(self, obj: SyncLink):
        count = self._status(obj).failed_writes
        if not count:
            return "0"
        url = reverse("admin:links_linkwrite_changelist")
        return format_html('<a href="{}?link__id__exact={}&amp;state=failed">{}</a>', url, obj.pk, count)

    @admin.display(description="conflicts, 24 h")
    def conflicts(self, obj: SyncLink) -> int:
        return self._status(obj).conflicts_24h

    @admin.display(description="open reviews")
    def reviews(self, obj: SyncLink):
        count = self._status(obj).open_reviews
        if not count:
            return "0"
        url = reverse("admin:links_matchreview_changelist")
        return format_html('<a href="{}?link__id__exact={}&amp;state=open">{}</a>', url, obj.pk, count)

    @admin.display(description="lag p50 / p99 (last hour)")
    def lag(self, obj: SyncLink) -> str:
        status = self._status(obj)
        return f"{_seconds(status.lag_p50_seconds)} / {_seconds(status.lag_p99_seconds)}"

    @admin.display(description="status")
    def status(self, obj: SyncLink):
        if obj.pk is None:
            return "—"
        status = self._status(obj)
        rows = [
            ("pending changes / writes", f"{status.pending_changes} / {status.pending_writes}"),
            ("oldest pending", _seconds(status.oldest_pending_seconds)),
            ("failed writes", status.failed_writes),
            ("conflicts, 24 h", status.conflicts_24h),
            ("open reviews", status.open_reviews),
            ("lag p50 / p99", f"{_seconds(status.lag_p50_seconds)} / {_seconds(status.lag_p99_seconds)}"),
            ("last write", status.last_write_at or "never"),
            ("blocked", status.blocked_reason or "no"),
        ]
        return format_html_join(BR, "{}: {}", rows)

    # --- the change form: the CRMs' field metadata read (and cached) outside any transaction, then the problems
    # of the configuration checked against it; the form itself is saved in the admin's own transaction ---------

    @method_decorator(transaction.non_atomic_requests)  # the URL's view; changeform_view saves in its own atomic
    def change_view(self, request: HttpRequest, object_id, form_url: str = "", extra_context=None):
        return super().change_view(request, object_id, form_url, extra_context)

    def changeform_view(self, request: HttpRequest, object_id=None, form_url: str = "", extra_context=None):
        request._link_problems = ([], "")
        if object_id is not None and str(object_id).isdecimal():
            link = self.get_queryset(request).filter(pk=int(object_id)).first()
            if link is not None:
                request._link_problems = self._problems(link)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _problems(self, link: SyncLink) -> tuple[list[str], str]:
        """(the configuration's problems, "") or ([], why they could not be checked). Asks the CRMs."""
        from links.config import link_problems
        from links.metadata import link_specs

        try:
            specs = link_specs(link)
        except (CrmError, ValueError, KeyError):
            specs = None  # an object a CRM does not have: link_problems names it
        try:
            return link_problems(link, specs=specs), ""
        except CrmError as exc:
            return [], f"a CRM did not give its field metadata: {exc.message}"

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], add=False, change=False, form_url="", obj=None
    ):
        if obj is not None and obj.pk is not None:
            context["link_problems"], context["link_problems_note"] = getattr(request, "_link_problems", ([], ""))
            preview = json.dumps(obj.preview, indent=2, ensure_ascii=False, default=str) if obj.preview else ""
            context["link_preview"], context["link_preview_at"] = preview, obj.preview_at
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        _organization_fill(formset, form.instance.organization_id)

    # --- actions (they call the CRMs: the list runs without the request's transaction) -------------------------

    @method_decorator(transaction.non_atomic_requests)
    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, extra_context)

    def _each(self, request: HttpRequest, queryset, verb: str, call) -> None:
        from links.services import LinkConfigError

        for link in list(queryset):
            try:
                message = call(link)
            except LinkConfigError as exc:
                problems = getattr(exc, "problems", None) or [str(exc)]
                self.message_user(
                    request,
                    format_html("{} cannot {}:<br>{}", link.name, verb, problems_html(problems)),
                    messages.ERROR,
                )
            except CrmError as exc:
                self.message_user(request, f"{link.name}: a CRM did not answer: {exc.message}", messages.ERROR)
            except ApplicationError as exc:
                self.message_user(request, f"{link.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Preview (dry run: what the first sync would write)")
    def preview(self, request: HttpRequest, queryset) -> None:
        from links.preview import link_preview

        def run(link: SyncLink) -> str:
            result = link_preview(link)
            return f"{link.name}: preview made. {_preview_summary(result)}"

        self._each(request, queryset, "be previewed", run)

    @admin.action(description="Start (writes to both CRMs)")
    def start(self, request: HttpRequest, queryset) -> None:
        from links.services import link_start

        self._each(request, queryset, "start", lambda link: f"{link_start(link, by=request.user).name}: started.")

    @admin.action(description="Pause (changes are kept, nothing is written)")
    def pause(self, request: HttpRequest, queryset) -> None:
        from links.services import link_pause

        reason = f"paused by {request.user.get_username()}"
        self._each(
            request, queryset, "pause", lambda link: f"{link_pause(link, reason=reason, by=request.user).name}: paused."
        )

    @admin.action(description="Resume")
    def resume(self, request: HttpRequest, queryset) -> None:
        from links.services import link_resume

        self._each(request, queryset, "resume", lambda link: f"{link_resume(link, by=request.user).name}: running.")


def _preview_summary(preview: Any) -> str:
    """The preview's counts per object in one line ("lead ⇄ lead: matched 3, create_b 2, ..."), as far as it has
    them."""
    if not isinstance(preview, dict):
        return ""
    parts = []
    objects = preview.get("objects", preview)
    items = objects.items() if isinstance(objects, dict) else enumerate(objects if isinstance(objects, list) else [])
    for key, counts in items:
        if isinstance(counts, dict):
            name = counts.get("object", key)
            numbers = ", ".join(
                f"{k} {v}"
                for k, v in counts.items()
                if isinstance(v, int) and not isinstance(v, bool) and k != "link_object"
            )
            if numbers:
                parts.append(f"{name}: {numbers}")
    return "; ".join(parts)


# --- objects and field mappings ----------------------------------------------------------------------------------


class LinkFieldInline(TenantTabularInline):
    model = LinkField
    extra = 0
    fields = ["field_a", "field_b", "direction", "conflict", "clears", "values_a_to_b", "values_b_to_a"]


@admin.register(LinkObject)
class LinkObjectAdmin(TenantModelAdmin):
    list_display = ["__str__", "link", "organization", "deletes", "create_a", "create_b", "position"]
    list_filter = ["organization", "link"]
    fields = [
        "link",
        "position",
        "object_a",
        "object_b",
        "external_id_a",
        "external_id_b",
        "match_by",
        "create_a",
        "create_b",
        "deletes",
        "archive_a",
        "archive_b",
    ]
    inlines = [LinkFieldInline]
    ordering = ["link", "position", "id"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("link", "organization")

    def save_model(self, request: HttpRequest, obj: LinkObject, form: Any, change: bool) -> None:
        obj.organization_id = obj.link.organization_id  # the link was chosen among the manager's own
        super().save_model(request, obj, form, change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        _organization_fill(formset, form.instance.organization_id)


# --- the failed-writes queue and the history ---------------------------------------------------------------------


@admin.register(LinkWrite)
class LinkWriteAdmin(RecordLinksMixin, ReadOnlyAdminMixin, TenantModelAdmin):
    """Failed writes first (the state filter starts there); "done" is the history of what the link wrote."""

    list_display = [
        "created_at",
        "link",
        "organization",
        "operation",
        "side",
        "state",
        "attempts",
        "crm_said",
        "changes",
        "records",
        "origin",
        "resolved_by",
    ]
    list_filter = [WriteStateFilter, "link", "operation", "side", "origin", "organization"]
    search_fields = ["pair__id_a", "pair__id_b", "error_code", "error_message"]
    fields = [
        "link",
        "link_object",
        "pair",
        "records",
        "side",
        "operation",
        "origin",
        "state",
        "changes",
        "hashes",
        "attempts",
        "next_attempt_at",
        "error_code",
        "error_message",
        "error_fields",
        "transient",
        "source_modified_at",
        "seen_at",
        "created_at",
        "sent_at",
        "done_at",
        "resolved_by",
        "resolved_at",
    ]
    readonly_fields = fields
    actions = ["retry", "skip"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "link__connection_a", "link__connection_b", "link__organization", "link_object", "pair", "resolved_by"
            )
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only fields, but retry and skip need change permission.
        return self._may_manage(request, obj)

    @admin.display(description="the CRM said")
    def crm_said(self, obj: LinkWrite) -> str:
        if not (obj.error_code or obj.error_message):
            return ""
        fields = f" ({', '.join(obj.error_fields)})" if obj.error_fields else ""
        text = f"{obj.error_code}: {obj.error_message}{fields}"
        return text if len(text) <= LIST_ERROR_CHARS else f"{text[: LIST_ERROR_CHARS - 1]}…"

    @admin.display(description="fields (old → new)")
    def changes(self, obj: LinkWrite):
        return changes_table(obj)

    @admin.display(description="records")
    def records(self, obj: LinkWrite):
        return record_links(obj).pair(obj.pair, obj.link, obj.link_object)

    @admin.action(description="Retry (with the values as the CRMs hold them now)")
    def retry(self, request: HttpRequest, queryset) -> None:
        from links.writer import write_retry

        self._resolve(request, queryset, write_retry, "will be retried")

    @admin.action(description="Skip (leave the record as it is)")
    def skip(self, request: HttpRequest, queryset) -> None:
        from links.writer import write_skip

        self._resolve(request, queryset, write_skip, "skipped")

    def _resolve(self, request: HttpRequest, queryset, call, done: str) -> None:
        count = 0
        for write in list(queryset.filter(state=LinkWrite.State.FAILED)):
            call(write, by=request.user)
            count += 1
        self.message_user(request, f"{count} failed write{'s' if count != 1 else ''} {done}.", messages.SUCCESS)

    @method_decorator(transaction.non_atomic_requests)  # each write is retried or skipped in its own transaction
    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, extra_context)


@admin.register(LinkConflict)
class LinkConflictAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    list_display = ["created_at", "link", "organization", "link_field", "value_a", "value_b", "winner", "rule", "pair"]
    list_filter = ["link", "winner", "rule", "organization"]
    fields = [
        "link",
        "link_object",
        "pair",
        "link_field",
        "value_a",
        "changed_a_at",
        "value_b",
        "changed_b_at",
        "winner",
        "rule",
        "created_at",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("link", "organization", "link_field", "pair")


# --- match reviews ------------------------------------------------------------------------------------------------


class ResolveForm(forms.Form):
    choice = forms.ChoiceField(choices=[("link", "link"), ("create", "create"), ("ignore", "ignore")])
    chosen_id = forms.CharField(required=False, max_length=64)


@admin.register(MatchReview)
class MatchReviewAdmin(ReadOnlyAdminMixin, TenantModelAdmin):
    """Records several records of the other side match: a manager links one, asks for a new record, or leaves
    the record out of the link (links.services.review_resolve)."""

    list_display = [
        "created_at",
        "link",
        "organization",
        "link_object",
        "side",
        "external_id",
        "matched_by",
        "match_value",
        "candidate_count",
        "state",
    ]
    list_filter = [ReviewStateFilter, "link", "matched_by", "organization"]
    search_fields = ["external_id", "match_value"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "link__connection_a", "link__connection_b", "link__organization", "link_object", "resolved_by"
            )
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)  # resolving needs it; the row's fields stay read-only

    @admin.display(description="candidates")
    def candidate_count(self, obj: MatchReview) -> int:
        return len(obj.candidates)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The record under review, each candidate from the other side's mirror, and the three ways out."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        review = self.get_queryset(request).filter(pk=int(object_id) if str(object_id).isdecimal() else 0).first()
        if review is None:
            raise Http404("No such review")
        if not self.has_view_permission(request, review):
            raise PermissionDenied
        form = ResolveForm(request.POST or None)
        if request.method == "POST":
            if not self.has_change_permission(request, review):
                raise PermissionDenied
            if review.state != MatchReview.State.OPEN:
                messages.error(request, "This review is already resolved.")
            elif form.is_valid():
                choice, chosen = form.cleaned_data["choice"], form.cleaned_data["chosen_id"]
                if choice == "link" and chosen not in review.candidates:
                    messages.error(request, "Pick one of the candidates to link.")
                else:
                    from links.services import review_resolve

                    try:
                        review_resolve(review, choice=choice, chosen_id=chosen, by=request.user)
                    except ApplicationError as exc:
                        messages.error(request, exc.message)
                    else:
                        done = {"link": f"linked to {chosen}", "create": "to be created", "ignore": "left out"}[choice]
                        messages.success(request, f"{review.side.upper()} {review.external_id}: {done}.")
                        return HttpResponseRedirect(reverse("admin:links_matchreview_changelist"))
        link, link_object = review.link, review.link_object
        side, other = review.side, other_side(review.side)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review {review.side.upper()} {review.external_id}",
            "review": review,
            "record": _mirror_cards(review, side, [review.external_id]),
            "candidates": _mirror_cards(review, other, review.candidates),
            "form": form,
            "may_resolve": review.state == MatchReview.State.OPEN and self.has_change_permission(request, review),
            "side_name": link.connection(side).name,
            "other_name": link.connection(other).name,
            "object_name": link_object.object_a if side == Side.A else link_object.object_b,
        }
        return TemplateResponse(request, "admin/links/matchreview/review.html", context)


def _mirror_cards(review: MatchReview, side: str, external_ids: list[str]) -> list[dict[str, Any]]:
    """Name, e-mail and phones of records of one side, from its mirror (the review's organization), in order."""
    link, link_object = review.link, review.link_object
    connection = link.connection(side)
    object = link_object.object_a if side == Side.A else link_object.object_b
    rows = {
        row.external_id: row
        for row in CrmRecord.objects.for_organization(review.organization).filter(
            connection=connection, object=object, external_id__in=external_ids
        )
    }
    phones: dict[str, list[str]] = {}
    links = RecordLinks()
    for external_id, e164 in (
        CrmPhone.objects.for_organization(review.organization)
        .filter(connection=connection, object=object, external_id__in=external_ids)
        .order_by("field")
        .values_list("external_id", "e164")
    ):
        phones.setdefault(external_id, []).append(e164)
    cards = []
    for external_id in external_ids:
        row = rows.get(external_id)
        cards.append(
            {
                "id": external_id,
                "url": links.url(connection, object, external_id),
                "name": row.name if row else "",
                "email": row.email if row else "",
                "phones": sorted(set(phones.get(external_id, []))),
                "modified_time": row.modified_time if row else None,
                "missing": row is None or row.deleted_at is not None,
            }
        )
    return cards


# --- the id map --------------------------------------------------------------------------------------------------


@admin.register(RecordPair)
class RecordPairAdmin(RecordLinksMixin, ReadOnlyAdminMixin, TenantModelAdmin):
    list_display = [
        "leadline_id",
        "link",
        "organization",
        "link_object",
        "records",
        "state",
        "matched_by",
        "updated_at",
    ]
    list_filter = ["link", "state", "matched_by", "organization"]
    search_fields = ["id_a", "id_b", "leadline_id"]
    fields = [
        "leadline_id",
        "link",
        "link_object",
        "records",
        "state",
        "matched_by",
        "created_at",
        "updated_at",
        "history",
    ]
    readonly_fields = fields
    ordering = ["-updated_at", "-id"]

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("link__connection_a", "link__connection_b", "organization", "link_object")
        )

    @admin.display(description="records")
    def records(self, obj: RecordPair):
        return record_links(obj).pair(obj)

    @admin.display(description="history (done writes per field)")
    def history(self, obj: RecordPair):
        """Per linked field, every write the link made: when, to which side, why (origin), old → new."""
        blocks = []
        for link_field in obj.link_object.fields.all():
            writes = field_history(pair=obj, field=link_field.field_a)
            rows = []
            for write in writes:
                name = link_field.field_a if write.side == Side.A else link_field.field_b
                when = timezone.localtime(write.done_at).strftime("%Y-%m-%d %H:%M:%S") if write.done_at else ""
                rows.append(
                    (
                        when,
                        write.side.upper(),
                        write.get_origin_display(),
                        _value(write.previous.get(name)),
                        _value(write.values.get(name)),
                    )
                )
            if rows:
                blocks.append(
                    format_html(
                        "<p><strong>{}</strong><br>{}</p>",
                        str(link_field),
                        format_html_join(BR, "{} to {} ({}): {} → {}", rows),
                    )
                )
        writes_url = reverse("admin:links_linkwrite_changelist")
        every = format_html(
            '<a href="{}?pair__id__exact={}&amp;state=all">every write of this pair</a>', writes_url, obj.pk
        )
        if not blocks:
            return format_html("No field written yet ({}).", every)
        return format_html("{}{}", format_html_join("", "{}", [(block,) for block in blocks]), every)
