"""Echo the request id to the client, so a user's bug report can be matched to our log lines."""

import structlog

from django.http import HttpRequest, HttpResponse


class RequestIdHeaderMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        response = self.get_response(request)
        if request_id:
            response["X-Request-ID"] = request_id
        return response
