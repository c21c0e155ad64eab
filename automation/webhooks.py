"""The new-lead webhook a CRM's workflow rule calls: `POST /webhooks/crm/<kind>/leads/<token>/` (`kind`: the
provider kind of crm.registry), or the short `POST /webhooks/crm/<kind>/<token>/` (what a Salesforce Flow's HTTP
callout is set up with). The URL it had before connections were generic answers the same (config/urls.py passes its
kind), since customers' workflow rules call it. The body names the lead: `lead_id`, `leadId`, `id` or `Id` (a JSON
body, a form field or a query parameter; docs/automation.md).

The CRM signs nothing, so the secret token in the URL (issued by us, one per organization, stored as a digest and
compared in constant time) both identifies and authenticates the organization. The raw request is recorded
under a digest of its body, so a re-delivery stores nothing new (any NUL is removed from what is stored, the body
as received kept beside it: `core.webhooks.webhook_record`) as an InboundEvent of source `<kind>.lead`; the work
happens in a task (automation/services/intake.py).
"""

from __future__ import annotations

import hashlib
import hmac

import structlog

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from automation.models import AutomationSettings, token_digest
from core.webhooks import webhook_record, webhook_view
from crm.registry import registered

logger = structlog.get_logger(__name__)


def lead_event_source(kind: str) -> str:
    """The InboundEvent source of a new-lead webhook from a CRM of provider `kind`."""
    return f"{kind}.lead"


@webhook_view
def crm_lead_webhook(request: HttpRequest, kind: str, token: str) -> HttpResponse:
    if kind not in registered():
        raise Http404("No such CRM")
    digest = token_digest(token)
    found = (
        AutomationSettings.objects.unscoped().select_related("organization").filter(webhook_token_digest=digest).first()
    )
    if found is None or not hmac.compare_digest(digest, found.webhook_token_digest or ""):
        logger.warning("crm_lead_webhook_refused", reason="unknown token", crm=kind)
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
    webhook_record(
        source=lead_event_source(kind),
        key=key,
        payload=payload,
        organization=found.organization,
        raw_body=request.body,
    )
    return JsonResponse({"status": "received"})
