"""The CrmProvider for Dynamics 365 / Dataverse (being built: issue 17)."""

from __future__ import annotations

from crm.provider import CrmProvider
from crm.registry import register


@register("dynamics")
class DynamicsProvider(CrmProvider):
    label = "Microsoft Dynamics 365"
