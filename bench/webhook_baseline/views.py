"""The baseline: parse the form body, insert one row, answer empty TwiML. No signature, no lookup, no broker, and
(served by `bench.webhook_baseline.wsgi`) no middleware."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.webhook_baseline.models import BaselineHit

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@csrf_exempt
@require_POST
def baseline_webhook(request: HttpRequest) -> HttpResponse:
    BaselineHit.objects.create(key=request.POST.get("MessageSid", "")[:64])
    response = HttpResponse(EMPTY_TWIML, content_type="text/xml")
    response["Content-Length"] = len(response.content)  # no CommonMiddleware to add it (else: chunked)
    return response
