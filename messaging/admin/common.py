"""Shared pieces of the messaging admin: phone search as people type it, the studio filter, formatting."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator

from core.admin import TenantRowsListFilter
from core.admin_site import is_operator, request_manager
from core.phone import normalize_e164
from messaging.errors import error_explain
from messaging.models import (
    Message,
)
from studios.models import Organization, PhoneNumber, Studio

DEFAULT_REGION = "US"
# What a person types when they search for a phone: digits, with or without +, spaces, dashes, dots, brackets.
PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
# Fewer digits than this match too much to be a phone search ("1" is in every number).
MIN_PHONE_DIGITS = 4


# --- Phone numbers as people type them ------------------------------------------------------------------------
def phone_regions(numbers: QuerySet[PhoneNumber]) -> list[str]:
    """The regions of our numbers (where a national number like "(415) 555-0100" most likely belongs), most
    common first, then the US."""
    counts: dict[str, int] = {}
    for number in numbers.values_list("number", flat=True)[:500]:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
        except phonenumbers.NumberParseException:
            continue
        if region:
            counts[region] = counts.get(region, 0) + 1
    regions = sorted(counts, key=lambda region: -counts[region])
    return regions if DEFAULT_REGION in regions else [*regions, DEFAULT_REGION]


def organization_phone_regions(organization: Organization | None) -> list[str]:
    if organization is None:
        return [DEFAULT_REGION]
    return phone_regions(PhoneNumber.objects.for_organization(organization))


def request_phone_regions(request: HttpRequest) -> list[str]:
    if not hasattr(request, "_leadline_phone_regions"):
        if is_operator(request):
            request._leadline_phone_regions = phone_regions(PhoneNumber.objects.unscoped())
        else:
            request._leadline_phone_regions = phone_regions(PhoneNumber.objects.visible_to(request_manager(request)))
    return request._leadline_phone_regions


def phone_candidates(term: str, regions: list[str]) -> set[str]:
    """Every E.164 number `term` may mean: as typed with its country code, else in each of `regions`."""
    found: set[str] = set()
    for region in [None] if term.strip().startswith("+") else regions:
        try:
            found.add(normalize_e164(term, default_region=region))
        except ValidationError:
            continue
    return found


def phone_search_q(term: str, *, fields: list[str], regions: list[str]) -> Q | None:
    """Rows whose phone fields are the number `term` means, or contain its digits ("0100", "555 01");
    None when `term` does not look like a phone number."""
    term = term.strip()
    digits = re.sub(r"\D", "", term)
    if not fields or not PHONE_LIKE.match(term) or len(digits) < MIN_PHONE_DIGITS:
        return None
    candidates = phone_candidates(term, regions)
    q = Q()
    for field in fields:
        q |= Q(**{f"{field}__contains": digits})
        if candidates:
            q |= Q(**{f"{field}__in": candidates})
    return q


class PhoneSearchMixin:
    """Search by phone in any format a person types, besides the admin's ordinary `search_fields`."""

    phone_search_fields: list[str] = []

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone_q = phone_search_q(search_term, fields=self.phone_search_fields, regions=request_phone_regions(request))
        if phone_q is not None:
            results = queryset.filter(phone_q) | results  # the number, or the words (a body, a name)
        return results, may_have_duplicates


# --- Shared pieces --------------------------------------------------------------------------------------------
class StudioFilter(TenantRowsListFilter):
    """The studios of the signed-in manager's organization (every studio for operators), and the unassigned."""

    title = "studio"
    parameter_name = "studio"
    related_model = Studio
    UNASSIGNED = "none"

    def rows(self, request: HttpRequest) -> QuerySet:
        return super().rows(request).select_related("organization")

    def label(self, request: HttpRequest, obj: Studio) -> str:
        return f"{obj.organization.name} · {obj.name}" if is_operator(request) else obj.name

    def lookups(self, request: HttpRequest, model_admin: Any):
        return [*super().lookups(request, model_admin), (self.UNASSIGNED, "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet):
        value = self.value()
        if value == self.UNASSIGNED:
            return queryset.filter(studio__isnull=True)
        if value in {key for key, _label in self.lookup_choices}:
            return queryset.filter(studio_id=value)
        if value is not None:
            return queryset.none()  # another organization's studio, or a typo: no studio of yours, no rows
        return queryset


def studio_or_unassigned(studio: Studio | None) -> str:
    return studio.name if studio is not None else "Unassigned"


def member_name(member) -> str:
    return (member.user.full_name or member.user.email) if member is not None else ""


def excerpt(text: str, length: int = 60) -> str:
    return Truncator(text or "").chars(length)


def message_error(message: Message) -> str:
    if not message.error_code:
        return excerpt(message.error_message, 80)
    return f"{message.error_code}: {error_explain(message.error_code, message.error_message)}"
