"""The new-lead webhook a Zoho workflow rule calls: `POST /webhooks/zoho/leads/<token>/`.

Zoho signs nothing, so the secret token in the URL (issued by us, one per organization, stored as a digest and
compared in constant time) both identifies and authenticates the organization. The raw request is recorded
under a digest of its body, so a re-delivery stores nothing new; the work happens in a task.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from automation.models import AutomationSettings, token_digest
from core.webhooks import webhook_record

logger = structlog.get_logger(__name__)


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def zoho_lead_webhook(request: HttpRequest, token: str) -> HttpResponse:
    if len(request.body) > settings.WEBHOOK_MAX_BODY_BYTES:
        return HttpResponse("Request body too large", status=413, content_type="text/plain")
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
    webhook_record(source="zoho.lead", key=key, payload=payload, organization=found.organization)
    return JsonResponse({"status": "received"})
