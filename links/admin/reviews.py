"""Match reviews: records several records of the other side match, each shown beside its candidates from the
mirror, for a manager to link one, ask for a new record or leave the record out of the link.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from core.admin import ReadOnlyAdminMixin, TenantModelAdmin
from core.exceptions import ApplicationError
from links.admin.common import RecordLinks, ReviewStateFilter
from links.models import MatchReview, Side, other_side
from sync.models import CrmPhone, CrmRecord


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
