"""Which CRM connections an organization has. A connection is a `studios.ProviderAccount` whose kind a registered
CRM provider serves (`crm.registry`); everything CRM-related (the mirror, lead intakes, members' CRM user ids) is
keyed by it, since one organization may connect two CRMs."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.registry import connection_kinds
from studios.models import Organization, ProviderAccount


def crm_connections(*, organization: Organization) -> QuerySet[ProviderAccount]:
    """Every CRM connection of the organization, the default ones first."""
    return (
        ProviderAccount.objects.for_organization(organization)
        .filter(kind__in=connection_kinds())
        .order_by("-is_default", "kind", "name")
    )


def crm_connection_get(*, organization: Organization, kind: str | None = None) -> ProviderAccount | None:
    """The organization's CRM connection (of `kind` when given): its default one, or its only one; None when it
    has none, or several and no default."""
    connections = crm_connections(organization=organization)
    if kind is not None:
        connections = connections.filter(kind=kind)
    default = connections.filter(is_default=True).first()
    if default is not None:
        return default
    only = list(connections[:2])
    return only[0] if len(only) == 1 else None


def crm_connection_of(*, organization: Organization, connection_id: int) -> ProviderAccount | None:
    """One of the organization's CRM connections by id (None for another organization's or a non-CRM account)."""
    return crm_connections(organization=organization).filter(pk=connection_id).first()
