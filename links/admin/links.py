"""The links' pages: the list (sides, pending, failed writes, conflicts, open reviews, lag; preview, start, pause
and resume) and a link's change form (its objects inline, its status, the last preview and what is wrong with its
configuration, checked against the CRMs' field metadata outside any transaction).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join

from core.admin import TenantModelAdmin, TenantTabularInline
from core.exceptions import ApplicationError
from crm.errors import CrmError
from links.admin.common import BR, problems_html, seconds_text
from links.models import LinkObject, SyncLink
from links.selectors import LinkStatus, link_status, links_status_of


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


def organization_fill(formset: Any, organization_id: int) -> None:
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
        return f"{seconds_text(status.lag_p50_seconds)} / {seconds_text(status.lag_p99_seconds)}"

    @admin.display(description="status")
    def status(self, obj: SyncLink):
        if obj.pk is None:
            return "—"
        status = self._status(obj)
        rows = [
            ("pending changes / writes", f"{status.pending_changes} / {status.pending_writes}"),
            ("oldest pending", seconds_text(status.oldest_pending_seconds)),
            ("failed writes", status.failed_writes),
            ("conflicts, 24 h", status.conflicts_24h),
            ("open reviews", status.open_reviews),
            ("lag p50 / p99", f"{seconds_text(status.lag_p50_seconds)} / {seconds_text(status.lag_p99_seconds)}"),
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
        organization_fill(formset, form.instance.organization_id)

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
