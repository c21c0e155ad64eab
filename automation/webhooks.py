"""The new-lead webhook a CRM's workflow rule calls: `POST /webhooks/crm/<kind>/leads/<token>/` (`kind`: the
provider kind of crm.registry), or the short `POST /webhooks/crm/<kind>/<token>/` (what a CRM flow's HTTP
callout is set up with). The URL it had before connections were generic answers the same (config/urls.py passes its
kind), since customers' workflow rules call it. The body names the lead: `lead_id`, `leadId`, `id` or `Id` (a JSON
body, a form field or a query parameter; docs/automation.md).

The CRM signs nothing, so the secret token in the URL (issued by us, one per organization, stored as a digest and
compared in constant time) both identifies and authenticates the organization. The raw request is recorded
under a digest of its body, so a re-delivery stores nothing new (any NUL is removed from what is stored, the body
as received kept beside it: `core.webhooks.webhook_record`) as an InboundEvent of source `<kind>.lead`; the work
happens in a task (automation/services/intake.py).

A CRM with app-level events (Capability.APP_EVENTS) instead posts every connected account's events, signed by the
CRM, to one URL: `POST /webhooks/crm/<kind>/events/` (`crm_app_events`). Each event names its account; a lead
created there, not by us, is recorded the same way (source `<kind>.lead`) with the connection it belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import structlog

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from automation.models import AutomationSettings, token_digest
from core.models import InboundEvent
from core.webhooks import webhook_record, webhook_view
from crm.errors import CrmNotificationInvalid
from crm.records import AppEvent, CanonicalObject, Capability, ChangeOperation, Identity
from crm.registry import UnknownCrm, provider_class, registered

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


def app_event_key(kind: str, event: AppEvent) -> str:
    """The InboundEvent key of one app event: the same on every re-delivery. The account is part of it, since a
    CRM may promise an event id unique only within one account (one account's event never hides another's)."""
    return f"{kind}:event:{event.org_id}:{event.event_id}"


@webhook_view
def crm_app_events(request: HttpRequest, kind: str) -> HttpResponse:
    """The CRM's app-level events: verified by the provider (its signature, its age), then each event is routed to
    the connection holding its account. Answered 200 once verified, whatever the events were (a refused delivery
    is retried by the CRM for hours, and none of these would read better later)."""
    try:
        served = provider_class(kind)
    except UnknownCrm:
        raise Http404("No such CRM") from None
    if Capability.APP_EVENTS not in served.capabilities:
        raise Http404("This CRM posts no app events")
    try:
        events = served.app_events_parse(
            method=request.method or "POST",
            url=settings.PUBLIC_BASE_URL + request.get_full_path(),
            body=request.body,
            headers=request.headers,
        )
    except CrmNotificationInvalid as exc:
        status = exc.status or 400
        logger.warning("crm_app_events_refused", crm=kind, status=status, reason=exc.message)
        if status != 400:
            return HttpResponse(exc.message, status=status, content_type="text/plain")
        webhook_record(
            source=f"{kind}.app_events",
            key=hashlib.sha256(request.body).hexdigest(),
            payload={"body": request.body.decode("utf-8", errors="replace")},
            status=InboundEvent.Status.FLAGGED,
            error=f"unreadable: {exc.message}",
            raw_body=request.body,
        )
        return JsonResponse({"status": "received"})
    connections: dict[str, Any] = {}
    recorded = 0
    for event in events:
        if event.org_id not in connections:
            connections[event.org_id] = served.connection_for_identity(identity=Identity(org_id=event.org_id))
        recorded += _app_event_route(kind, event, connections[event.org_id])
    return JsonResponse({"status": "received", "recorded": recorded})


def _automation_on(organization: Any) -> bool:
    """Lead automation set up (saved) and switched on; asked once per organization per delivery."""
    cached = getattr(organization, "_automation_on", None)
    if cached is None:
        automation = AutomationSettings.objects.for_organization(organization).first()
        cached = organization._automation_on = automation is not None and automation.is_enabled
    return cached


def _app_event_route(kind: str, event: AppEvent, connection: Any) -> int:
    """Record a new lead of a connected account for its intake (1), or log why the event starts nothing (0)."""
    context = {"crm": kind, "org_id": event.org_id, "event_id": event.event_id, "record_id": event.record_id}
    if connection is None:
        logger.warning("crm_app_event_unknown_account", **context)
        return 0
    context["connection_id"] = connection.pk
    if event.object != CanonicalObject.LEAD or event.operation != ChangeOperation.CREATED:
        # A change the mirror's next delta reads anyway: a hint, not work for automation.
        logger.debug("crm_app_event_left_to_the_mirror", object=event.object, operation=str(event.operation), **context)
        return 0
    if event.ours:
        logger.info("crm_app_event_ours", **context)
        return 0
    organization = connection.organization
    if not _automation_on(organization):
        logger.info("crm_app_event_automation_off", organization_id=organization.pk, **context)
        return 0
    _, created = webhook_record(
        source=lead_event_source(kind),
        key=app_event_key(kind, event),
        payload={"lead_id": event.record_id, "connection_id": connection.pk, "event": dict(event.raw)},
        organization=organization,
    )
    return int(created)
