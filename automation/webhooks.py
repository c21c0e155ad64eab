"""The new-lead webhook a Zoho workflow rule calls: `POST /webhooks/zoho/leads/<token>/`.

Zoho signs nothing, so the secret token in the URL (issued by us, one per organization, stored as a digest and
compared in constant time) both identifies and authenticates the organization. The raw request is recorded
under a digest of its body, so a re-delivery stores nothing new (any NUL is removed from what is stored, the body
as received kept beside it: `core.webhooks.webhook_record`); the work happens in a task.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog

from django.http import HttpRequest, HttpResponse, JsonResponse

from automation.models import AutomationSettings, token_digest
from core.webhooks import webhook_record, webhook_view

logger = structlog.get_logger(__name__)


@webhook_view
def zoho_lead_webhook(request: HttpRequest, token: str) -> HttpResponse:
    digest = token_digest(token)
    found = (
        AutomationSettings.objects.unscoped().select_related("organization").filter(webhook_token_digest=digest).first()
    )
    if found is None or not hmac.compare_digest(digest, found.webhook_token_digest or ""):
        logger.warning("zoho_lead_webhook_refused", reason="unknown token")
        return HttpResponse("Unknown webhook token", status=403, content_type="text/plain")
    body = request.body.decode("utf-8", errors="replace")
    is_form = request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    payload = {
        "body": "" if is_form else body,
        "form": request.POST.dict() if is_form else {},
        "query": request.GET.dict(),
        "content_type": request.content_type,
    }
    key = hashlib.sha256(request.get_full_path().encode() + b"\n" + request.body).hexdigest()
    webhook_record(source="zoho.lead", key=key, payload=payload, organization=found.organization, raw_body=request.body)
    return JsonResponse({"status": "received"})
