"""Reads of the CRM mirror: the last runs per module and how far each module lags behind Zoho."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from studios.models import Organization
from sync.models import CrmPhone, CrmRecord, SyncRun, SyncState


@dataclass
class ModuleStatus:
    """One module of one organization: its watermark, its lag, and its latest run."""

    module: str
    watermark: datetime | None
    lag_seconds: float | None
    last_run: SyncRun | None
    running: bool


def sync_runs_recent(*, organization: Organization, module: str | None = None, limit: int = 10) -> list[SyncRun]:
    """The organization's latest runs, newest first."""
    runs = SyncRun.objects.for_organization(organization)
    if module:
        runs = runs.filter(module=module)
    return list(runs.order_by("-started_at", "-id")[:limit])


def sync_status_list(*, organization: Organization, modules: list[str]) -> list[ModuleStatus]:
    """Per module: the watermark, the lag (since the last ok run started), the latest run, whether one runs now."""
    now = timezone.now()
    states = {state.module: state for state in SyncState.objects.for_organization(organization)}
    result = []
    for module in dict.fromkeys([*modules, *states]):
        state = states.get(module)
        watermark = state.watermark if state else None
        running = bool(state and state.locked_by_id and state.lease_expires_at and state.lease_expires_at > now)
        last = sync_runs_recent(organization=organization, module=module, limit=1)
        ok = SyncRun.objects.for_organization(organization).filter(module=module, status=SyncRun.Status.OK)
        ok = ok.exclude(kind=SyncRun.Kind.NOTIFICATION)  # a few ids: not "every change before it is mirrored"
        fresh = ok.order_by("-started_at").values_list("started_at", flat=True).first()
        # Lag: the mirror holds every change made before the last ok run started (a quiet CRM is not "behind").
        lag = (now - fresh).total_seconds() if fresh else None
        result.append(ModuleStatus(module, watermark, lag, last[0] if last else None, running))
    return result


def crm_record_get(*, organization: Organization, module: str, zoho_id: str) -> CrmRecord | None:
    """The mirrored record (None when the mirror lacks it or Zoho deleted it), e.g. for the widget's CRM context."""
    records = CrmRecord.objects.for_organization(organization).filter(deleted_at__isnull=True)
    return records.filter(module=module, zoho_id=zoho_id).first()


def crm_records_by_phone(*, organization: Organization, e164: str) -> QuerySet[CrmRecord]:
    """Mirrored (not deleted) records with a phone field equal to `e164`: no Zoho call needed."""
    phones = CrmPhone.objects.for_organization(organization).filter(
        e164=e164, module=OuterRef("module"), zoho_id=OuterRef("zoho_id")
    )
    return CrmRecord.objects.for_organization(organization).filter(Exists(phones), deleted_at__isnull=True)
