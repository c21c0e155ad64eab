"""The lead's CRM context for the widget: name, status and owner, from the CRM mirror when it has the record,
else from Zoho (cached briefly: the widget asks each time a thread opens)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import structlog
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.core.cache import cache
from django.db.models import QuerySet

from automation.selectors import crm_account_get
from core.api import ErrorSerializer, TenantApi
from core.exceptions import UpstreamUnavailable
from crm.providers.zoho.client import Priority, ZohoClient
from crm.providers.zoho.errors import ZohoAuthError, ZohoError
from crm.providers.zoho.tokens import ZohoReauthRequired, ZohoTokenError
from messaging.models import Contact
from studios.models import Membership

logger = structlog.get_logger(__name__)

CRM_CONTEXT_CACHE_SECONDS = 60
CRM_FIELDS = ("First_Name", "Last_Name", "Full_Name", "Lead_Status", "Owner")


@dataclass(frozen=True)
class CrmContext:
    source: str  # "mirror" or "zoho"
    module: str
    record_id: str
    found: bool
    name: str = ""
    status: str = ""
    owner_id: str = ""
    owner_name: str = ""


def crm_context_from_mirror(*, contact: Contact) -> CrmContext | None:
    """The record's context from the CRM mirror (no Zoho call, no credits), or None when the mirror lacks it."""
    from sync.selectors import crm_record_get

    record = crm_record_get(organization=contact.organization, module=contact.crm_module, zoho_id=contact.crm_record_id)
    if record is None:
        return None
    return CrmContext(
        source="mirror",
        module=contact.crm_module,
        record_id=contact.crm_record_id,
        found=True,
        name=record.name,
        status=str((record.fields or {}).get("lead_status") or ""),
        owner_id=record.owner_id or "",
        owner_name=record.owner_name or "",
    )


def crm_context_from_record(*, contact: Contact, record: dict[str, Any] | None, source: str) -> CrmContext:
    """Name, status and owner of a Zoho record (Leads have a status; Contacts have none)."""
    if record is None:
        return CrmContext(source=source, module=contact.crm_module, record_id=contact.crm_record_id, found=False)
    owner = record.get("Owner") or {}
    name = record.get("Full_Name") or " ".join(p for p in (record.get("First_Name"), record.get("Last_Name")) if p)
    return CrmContext(
        source=source,
        module=contact.crm_module,
        record_id=contact.crm_record_id,
        found=True,
        name=name or "",
        status=str(record.get("Lead_Status") or ""),
        owner_id=str(owner.get("id") or ""),
        owner_name=str(owner.get("name") or ""),
    )


def crm_context_from_zoho(*, contact: Contact) -> CrmContext:
    """Ask Zoho (interactive priority: a person waits), remembering the answer for a minute."""
    key = f"api:crm_context:{contact.organization_id}:{contact.crm_module}:{contact.crm_record_id}"
    cached = cache.get(key)
    if cached is not None:
        return CrmContext(**cached)
    account = crm_account_get(organization=contact.organization)
    if account is None:
        raise UpstreamUnavailable("Zoho CRM is not connected for this organization.", code="crm_not_connected")
    try:
        record = ZohoClient(account=account, priority=Priority.INTERACTIVE).record_get(
            module=contact.crm_module, record_id=contact.crm_record_id, fields=CRM_FIELDS
        )
    except (ZohoAuthError, ZohoReauthRequired) as exc:
        logger.warning("crm_context_failed", contact_id=contact.pk, error=exc.__class__.__name__)
        raise UpstreamUnavailable(
            "Zoho refused our connection; a manager must reconnect Zoho.", code="crm_reconnect_required"
        ) from exc
    except (ZohoError, ZohoTokenError, ValueError) as exc:
        logger.warning("crm_context_failed", contact_id=contact.pk, error=exc.__class__.__name__)
        raise UpstreamUnavailable("Zoho CRM did not answer; try again shortly.", code="crm_unavailable") from exc
    context = crm_context_from_record(contact=contact, record=record, source="zoho")
    cache.set(key, asdict(context), CRM_CONTEXT_CACHE_SECONDS)
    return context


class ContactCrmApi(TenantApi):
    """GET /contacts/<id>/crm/: the linked CRM record's name, status and owner, or `{"linked": false}`."""

    class CrmContextSerializer(serializers.Serializer):
        linked = serializers.BooleanField()
        source = serializers.ChoiceField(choices=["mirror", "zoho"], required=False)
        module = serializers.CharField(required=False)
        record_id = serializers.CharField(required=False)
        found = serializers.BooleanField(required=False)
        name = serializers.CharField(required=False, allow_blank=True)
        status = serializers.CharField(required=False, allow_blank=True)
        owner_id = serializers.CharField(required=False, allow_blank=True)
        owner_name = serializers.CharField(required=False, allow_blank=True)

    serializer_class = CrmContextSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Contact]:
        return Contact.objects.visible_to(member).select_related("organization")

    @extend_schema(
        responses={
            200: CrmContextSerializer,
            401: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            502: ErrorSerializer,
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = self.get_object()
        if not (contact.crm_module and contact.crm_record_id):
            return Response({"linked": False})
        context = crm_context_from_mirror(contact=contact) or crm_context_from_zoho(contact=contact)
        return Response(self.get_serializer({"linked": True, **asdict(context)}).data)
