"""Opt-out changes written to the CRM: each pending CrmWriteBack (queued by the messaging app's opt-out ledger)
sets the organization's opt-out field on every Lead and Contact with that phone (the linked record first, else
found by a phone search). A record-less phone is marked skipped, not retried forever."""

from __future__ import annotations

import structlog

from django.utils import timezone

from automation.selectors import crm_account_get
from crm.providers.zoho.client import Priority, ZohoClient
from crm.providers.zoho.errors import ZohoError, ZohoRequestError
from crm.providers.zoho.tokens import ZohoReauthRequired, ZohoTokenError
from messaging.models import CrmWriteBack

logger = structlog.get_logger(__name__)

MAX_ATTEMPTS = 10
MODULES = ("Leads", "Contacts")


def crm_write_backs_flush(*, limit: int = 200) -> int:
    """Write pending changes, oldest first; returns how many were settled (written, skipped or failed)."""
    pending = list(
        CrmWriteBack.objects.unscoped()
        .select_related("organization", "contact")
        .filter(status=CrmWriteBack.Status.PENDING)
        .order_by("created_at")[:limit]
    )
    settled = 0
    clients: dict[int, ZohoClient | None] = {}
    for write_back in pending:
        org_id = write_back.organization_id
        if org_id not in clients:
            account = crm_account_get(organization=write_back.organization)
            clients[org_id] = ZohoClient(account=account, priority=Priority.BACKGROUND) if account else None
        settled += crm_write_back_apply(write_back=write_back, client=clients[org_id])
    return settled


def _targets(write_back: CrmWriteBack, client: ZohoClient) -> list[tuple[str, str]]:
    contact = write_back.contact
    if contact is not None and contact.crm_module in MODULES and contact.crm_record_id:
        return [(contact.crm_module, contact.crm_record_id)]
    found: list[tuple[str, str]] = []
    for module in MODULES:
        found += [
            (module, str(record["id"]))
            for record in client.records_search_by_phone(module=module, phone=write_back.phone)
        ]
    return found


def crm_write_back_apply(*, write_back: CrmWriteBack, client: ZohoClient | None) -> int:
    def settle(status: str, error: str = "") -> int:
        CrmWriteBack.objects.unscoped().filter(pk=write_back.pk).update(
            status=status, last_error=error[:2000], attempts=write_back.attempts + 1, updated_at=timezone.now()
        )
        return 1

    if client is None:
        return settle(CrmWriteBack.Status.SKIPPED, "the organization has no Zoho CRM account")
    try:
        targets = _targets(write_back, client)
        if not targets:
            return settle(CrmWriteBack.Status.SKIPPED, f"no Lead or Contact in Zoho has {write_back.phone}")
        for module, record_id in targets:
            client.records_update(module=module, records=[{"id": record_id, write_back.field: write_back.value}])
    except (ZohoReauthRequired, ZohoRequestError) as exc:
        return settle(CrmWriteBack.Status.FAILED, f"Zoho refused the write: {exc}")
    except (ZohoError, ZohoTokenError) as exc:
        if write_back.attempts + 1 >= MAX_ATTEMPTS:
            return settle(CrmWriteBack.Status.FAILED, f"Zoho unavailable after {MAX_ATTEMPTS} tries: {exc}")
        CrmWriteBack.objects.unscoped().filter(pk=write_back.pk).update(
            attempts=write_back.attempts + 1, last_error=str(exc)[:2000], updated_at=timezone.now()
        )
        return 0
    logger.info("crm_write_back_done", phone_suffix=write_back.phone[-4:], targets=len(targets))
    return settle(CrmWriteBack.Status.DONE)
