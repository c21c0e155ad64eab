"""Notifications ("watch" channels): `POST/PATCH/PUT/GET/DELETE /crm/v8/actions/watch` and the callbacks.

A channel belongs to an org and is keyed by the client's own `channel_id` (a long). It subscribes to
`<Module>.create|edit|delete|all` events, may carry a `field_selection` condition per module (fire only when
those fields changed), a `token` (<= 50 chars) echoed in every callback, and expires: a missing expiry, or one
beyond `config.channel_max_expiry_hours`, becomes `config.channel_default_expiry_hours` from now (Kaizen #14 /
the v2-v3 docs: "If it is not specified or set for more than a day, the default expiry time is for one hour").
An expired channel stops firing and disappears; it must be re-created (PATCH answers NOT_SUBSCRIBED).

`WatchState.handle(org, event)` runs for every record change and queues one POST per matching channel to its
`notify_url` (query params kept) through the sandbox's asynchronous sender, with the payload of
docs/vendors/zoho-crm.md, Notifications:
`server_time, query_params, module, resource_uri, ids, affected_fields (only with return_affected_field_values),
operation (insert|update|delete), channel_id, token`. That payload shape is UNCONFIRMED (recalled, not
retrieved); it is kept exactly as docs/vendors/zoho-crm.md, Notifications, writes it. Nothing is signed: the token is
the only proof, as with Zoho.

Layout: validation.py (one watch item's fields and the per-item errors), channels.py (WatchState: the channels
and the callbacks they send), handlers.py (the REST handler).
"""

from sandbox.zoho_crm.notifications.channels import (
    MESSAGES,
    STORE_TO_EVENT,
    Channel,
    WatchState,
    selection_matches,
)
from sandbox.zoho_crm.notifications.handlers import MAX_ITEMS, SCOPES, watch
from sandbox.zoho_crm.notifications.validation import (
    EVENT_OPERATIONS,
    FIELD_SELECTION_MAX,
    NOT_WATCHABLE,
    TOKEN_MAX_LENGTH,
    WATCHABLE_MODULES,
    WatchError,
)

ROUTES = [("/crm/v8/actions/watch", ["GET", "POST", "PUT", "PATCH", "DELETE"], watch)]

# The app names a route's endpoint, and its key in GET /_sandbox/counters, after the handler's module: the handler
# keeps the module it had before notifications.py became this package, so the counter key stays
# `zoho_crm.notifications.watch`.
for _path, _methods, _handler in ROUTES:
    _handler.__module__ = __name__

__all__ = [
    "EVENT_OPERATIONS",
    "FIELD_SELECTION_MAX",
    "MAX_ITEMS",
    "MESSAGES",
    "NOT_WATCHABLE",
    "ROUTES",
    "SCOPES",
    "STORE_TO_EVENT",
    "TOKEN_MAX_LENGTH",
    "WATCHABLE_MODULES",
    "Channel",
    "WatchError",
    "WatchState",
    "selection_matches",
    "watch",
]
