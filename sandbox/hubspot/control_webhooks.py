"""The control API of app webhooks, under /_sandbox/hubspot/apps/<app_id>/webhooks (plain JSON; bad input answers
400 {"error": ...}, an unknown app or subscription 404). What an app developer sets in HubSpot's developer
account, and what tests read back (webhooks.py describes events and deliveries).

    GET    apps/<app_id>/webhooks -> {targetUrl, maxConcurrentRequests, paused, subscriptions: [...]}
    PUT    apps/<app_id>/webhooks/settings {targetUrl, maxConcurrentRequests?, paused?} -> the settings
           (paused: events wait until a flush; an emulator switch, not HubSpot's)
    DELETE apps/<app_id>/webhooks/settings -> 204 (no target URL: nothing is sent)
    POST   apps/<app_id>/webhooks/subscriptions {eventType | subscriptionType, objectTypeId | objectType?,
           propertyName?, active?} -> 201 the subscription {id, eventType, objectTypeId?, propertyName?, active}
    PATCH  apps/<app_id>/webhooks/subscriptions/<id> {active} -> the subscription
    DELETE apps/<app_id>/webhooks/subscriptions/<id> -> 204
    POST   apps/<app_id>/webhooks/flush {retries?: true, allRetries?: false} -> {attempts: [...]}
           (pending events sent now on this thread; due retries too, every scheduled one with allRetries)
    GET    apps/<app_id>/webhooks/deliveries -> {attempts: [{batchId, attemptNumber, url, sentAt, status, error,
           delivered, eventIds, events, headers, nextAttemptAt}], pending, retries: [...]}
    DELETE apps/<app_id>/webhooks/deliveries -> 204 (log, pending events and scheduled retries forgotten)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.hubspot.webhooks import SubscriptionError, hub_of, new_subscription, settings_of
from sandbox.kit.http import json_response, no_content, request_json

if TYPE_CHECKING:
    from sandbox.hubspot.state import App
    from sandbox.state import SandboxState

PREFIX = "/_sandbox/hubspot/apps/<app_id>/webhooks"


def _error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def _app(sandbox: SandboxState, app_id: str) -> App | None:
    app = sandbox.hubspot.apps.get(str(app_id))
    if app is not None:
        hub_of(sandbox.hubspot)  # hooked to the portals' changes from now on
    return app


def _body(request: Request) -> dict[str, Any] | None:
    body = request_json(request)
    if body is None and not request.get_data():
        return {}
    return body if isinstance(body, dict) else None


def webhooks(sandbox: SandboxState, request: Request, app_id: str) -> Response:
    app = _app(sandbox, app_id)
    if app is None:
        return _error(f"no app {app_id}", 404)
    return json_response(settings_of(app).as_json())


def settings(sandbox: SandboxState, request: Request, app_id: str) -> Response:
    app = _app(sandbox, app_id)
    if app is None:
        return _error(f"no app {app_id}", 404)
    found = settings_of(app)
    if request.method == "DELETE":
        found.target_url = ""
        return no_content()
    body = _body(request)
    if body is None:
        return _error("the body must be a JSON object")
    url = body.get("targetUrl", found.target_url)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return _error("targetUrl must be an http(s) URL")
    try:
        concurrency = int(body.get("maxConcurrentRequests", found.max_concurrent_requests))
    except (TypeError, ValueError):
        return _error("maxConcurrentRequests must be a number")
    if concurrency < 5:  # HubSpot's settings page refuses fewer than 5
        return _error("maxConcurrentRequests must be at least 5")
    found.target_url, found.max_concurrent_requests = url, concurrency
    if "paused" in body:
        found.paused = bool(body["paused"])
        if not found.paused:
            hub_of(sandbox.hubspot).flush(app.app_id, retries=False)
    return json_response(found.as_json())


def subscriptions(sandbox: SandboxState, request: Request, app_id: str) -> Response:
    app = _app(sandbox, app_id)
    if app is None:
        return _error(f"no app {app_id}", 404)
    body = _body(request)
    if body is None:
        return _error("the body must be a JSON object")
    try:
        sub = new_subscription(body, now_ms=hub_of(sandbox.hubspot).now_ms())
    except SubscriptionError as exc:
        return _error(str(exc))
    settings_of(app).subscriptions[sub.id] = sub
    return json_response(sub.as_json(), 201)


def subscription(sandbox: SandboxState, request: Request, app_id: str, subscription_id: str) -> Response:
    app = _app(sandbox, app_id)
    found = settings_of(app).subscriptions if app is not None else {}
    sub = found.get(int(subscription_id)) if subscription_id.isdigit() else None
    if sub is None:
        return _error(f"no subscription {subscription_id} on app {app_id}", 404)
    if request.method == "DELETE":
        del found[sub.id]
        return no_content()
    body = _body(request)
    if body is None or "active" not in body:
        return _error("send {active: true | false}")
    sub.active = bool(body["active"])
    return json_response(sub.as_json())


def flush(sandbox: SandboxState, request: Request, app_id: str) -> Response:
    app = _app(sandbox, app_id)
    if app is None:
        return _error(f"no app {app_id}", 404)
    body = _body(request) or {}
    made = hub_of(sandbox.hubspot).flush(
        app.app_id, retries=bool(body.get("retries", True)), all_retries=bool(body.get("allRetries", False))
    )
    return json_response({"attempts": made})


def deliveries(sandbox: SandboxState, request: Request, app_id: str) -> Response:
    app = _app(sandbox, app_id)
    if app is None:
        return _error(f"no app {app_id}", 404)
    hub = hub_of(sandbox.hubspot)
    if request.method == "DELETE":
        hub.clear(app.app_id)
        return no_content()
    return json_response(hub.log(app.app_id))


CONTROL_ROUTES = [
    (PREFIX, ["GET"], webhooks),
    (f"{PREFIX}/settings", ["PUT", "POST", "DELETE"], settings),
    (f"{PREFIX}/subscriptions", ["POST"], subscriptions),
    (f"{PREFIX}/subscriptions/<subscription_id>", ["PATCH", "DELETE"], subscription),
    (f"{PREFIX}/flush", ["POST"], flush),
    (f"{PREFIX}/deliveries", ["GET", "DELETE"], deliveries),
]
