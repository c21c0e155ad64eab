"""The lead's CRM context for the widget: name, status and owner, from the CRM mirror when it has the record,
else from the CRM through the contact's connection (cached briefly: the widget asks each time a thread opens), and a
link to the record's page in the CRM's own web app (`provider.record_url`: built, never asked of the CRM)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import structlog
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from django.core.cache import cache
from django.db.models import QuerySet

from core.api import ErrorSerializer, TenantApi
from core.exceptions import UpstreamUnavailable
from crm import registry
from crm.connections import crm_connection_get
from crm.errors import CrmAuthError, CrmError, CrmNotFound
from crm.records import CanonicalRecord, Priority
from crm.registry import provider_for
from messaging.models import Contact
from studios.models import Membership, ProviderAccount

logger = structlog.get_logger(__name__)

CRM_CONTEXT_CACHE_SECONDS = 60
# The canonical key of a lead's status in a CanonicalRecord's `fields` (contacts have none).
STATUS_KEY = "lead_status"


@dataclass(frozen=True)
class CrmContext:
    source: str  # "mirror" or "crm"
    object: str
    record_id: str
    found: bool
    name: str = ""
    status: str = ""
    owner_id: str = ""
    owner_name: str = ""
    url: str = ""  # the record's page in the CRM ("" when the provider cannot say)
    crm: str = ""  # the CRM's name, for the link ("Open in <CRM>")


def record_link(*, connection: ProviderAccount | None, object: str, record_id: str) -> tuple[str, str]:
    """The record's page in the CRM's web app and the CRM's name; ("", "") when the provider cannot say. Builds a
    provider for the connection, calls nothing (record_url is made from what the connection knows)."""
    if connection is None:
        return "", ""
    try:
        provider = registry.provider_for(connection, priority=Priority.INTERACTIVE)
        url = provider.record_url(object=object, record_id=record_id)
    except (CrmError, ValueError):
        return "", ""
    # Only a web address goes into the widget's link (never a javascript: or data: one, whatever a provider says).
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        url = ""
    return url, provider.label or provider.kind


def crm_context_from_mirror(*, contact: Contact) -> CrmContext | None:
    """The record's context from the CRM mirror (no CRM call, no credits), or None when the mirror lacks it."""
    from sync.selectors import crm_record_get

    record = crm_record_get(
        organization=contact.organization,
        object=contact.crm_object,
        external_id=contact.crm_record_id,
        connection_id=contact.connection_id,
    )
    if record is None:
        return None
    url, crm_name = record_link(
        connection=contact.connection or record.connection, object=contact.crm_object, record_id=contact.crm_record_id
    )
    return CrmContext(
        source="mirror",
        object=contact.crm_object,
        record_id=contact.crm_record_id,
        found=True,
        name=record.name,
        status=str((record.fields or {}).get(STATUS_KEY) or ""),
        owner_id=record.owner_id or "",
        owner_name=record.owner_name or "",
        url=url,
        crm=crm_name,
    )


def crm_context_from_record(*, contact: Contact, record: CanonicalRecord | None, source: str) -> CrmContext:
    """Name, status and owner of a canonical CRM record."""
    if record is None:
        return CrmContext(source=source, object=contact.crm_object, record_id=contact.crm_record_id, found=False)
    parts = (record.get("first_name"), record.get("last_name"))
    return CrmContext(
        source=source,
        object=contact.crm_object,
        record_id=contact.crm_record_id,
        found=True,
        name=record.name or " ".join(str(part) for part in parts if part),
        status=str(record.get(STATUS_KEY) or ""),
        owner_id=record.owner_id,
        owner_name=record.owner_name,
    )


def _connection(contact: Contact) -> ProviderAccount:
    connection = contact.connection or crm_connection_get(organization=contact.organization)
    if connection is None:
        raise UpstreamUnavailable("No CRM is connected for this organization.", code="crm_not_connected")
    return connection


def crm_context_from_crm(*, contact: Contact) -> CrmContext:
    """Ask the CRM (interactive priority: a person waits), remembering the answer for a minute."""
    connection = _connection(contact)
    key = f"api:crm_context:{connection.pk}:{contact.crm_object}:{contact.crm_record_id}"
    cached = cache.get(key)
    if cached is not None:
        return CrmContext(**cached)
    try:
        provider = provider_for(connection, priority=Priority.INTERACTIVE)
        record = provider.record(object=contact.crm_object, record_id=contact.crm_record_id)
    except CrmNotFound:
        record = None
    except CrmAuthError as exc:
        logger.warning("crm_context_failed", contact_id=contact.pk, error=exc.__class__.__name__)
        raise UpstreamUnavailable(
            "The CRM refused our connection; a manager must connect it again.", code="crm_reconnect_required"
        ) from exc
    except (CrmError, ValueError) as exc:
        logger.warning("crm_context_failed", contact_id=contact.pk, error=exc.__class__.__name__)
        raise UpstreamUnavailable("The CRM did not answer; try again shortly.", code="crm_unavailable") from exc
    context = crm_context_from_record(contact=contact, record=record, source="crm")
    if context.found:
        url, crm_name = record_link(connection=connection, object=contact.crm_object, record_id=contact.crm_record_id)
        context = replace(context, url=url, crm=crm_name)
    cache.set(key, asdict(context), CRM_CONTEXT_CACHE_SECONDS)
    return context


class ContactCrmApi(TenantApi):
    """GET /contacts/<id>/crm/: the linked CRM record's name, status, owner and page in the CRM, or
    `{"linked": false}`."""

    class CrmContextSerializer(serializers.Serializer):
        linked = serializers.BooleanField()
        source = serializers.ChoiceField(choices=["mirror", "crm"], required=False)
        object = serializers.CharField(required=False, help_text="lead or contact")
        record_id = serializers.CharField(required=False)
        found = serializers.BooleanField(required=False)
        name = serializers.CharField(required=False, allow_blank=True)
        status = serializers.CharField(required=False, allow_blank=True)
        owner_id = serializers.CharField(required=False, allow_blank=True)
        owner_name = serializers.CharField(required=False, allow_blank=True)
        url = serializers.CharField(
            required=False, allow_blank=True, help_text="The record's page in the CRM (empty: no link)."
        )
        crm = serializers.CharField(required=False, allow_blank=True, help_text="The CRM's name, for the link.")

    serializer_class = CrmContextSerializer

    def scoped_queryset(self, member: Membership | None) -> QuerySet[Contact]:
        return Contact.objects.visible_to(member).select_related("organization", "connection")

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
        if not (contact.crm_object and contact.crm_record_id):
            return Response({"linked": False})
        context = crm_context_from_mirror(contact=contact) or crm_context_from_crm(contact=contact)
        return Response(self.get_serializer({"linked": True, **asdict(context)}).data)
