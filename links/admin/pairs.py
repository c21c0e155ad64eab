"""The id map: each pair of records a link keeps in step, both linked to their CRMs, with the history of what the
link wrote to them, field by field.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from links.admin.common import BR, RecordLinksMixin, record_links, value_text
from links.models import RecordPair, Side
from links.selectors import field_history


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
                        value_text(write.previous.get(name)),
                        value_text(write.values.get(name)),
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
