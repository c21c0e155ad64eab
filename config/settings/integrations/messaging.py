"""Messaging settings: provider timeouts, send retries, webhook size. A provider package keeps its own settings."""

from config.env import env

# Seconds a provider call may take before it counts as "down" and the send fails over.
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
# A send that no provider could take is retried with exponential backoff (30 s doubling, capped) until it is
# this old; then it fails with a clear reason instead of reaching the lead hours late.
MESSAGING_RETRY_BASE_SECONDS = env.int("MESSAGING_RETRY_BASE_SECONDS", default=30)
MESSAGING_RETRY_MAX_SECONDS = env.int("MESSAGING_RETRY_MAX_SECONDS", default=900)
MESSAGING_PENDING_MAX_AGE_SECONDS = env.int("MESSAGING_PENDING_MAX_AGE_SECONDS", default=6 * 3600)
# A message a worker claimed but never finished (the worker died mid-call) is flagged after this long.
MESSAGING_STALE_SENDING_SECONDS = env.int("MESSAGING_STALE_SENDING_SECONDS", default=600)
# Webhook bodies above this are refused (413) before parsing: a genuine Twilio webhook is a few KB.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=64 * 1024)
# A web process asks the cache "is a dispatch of recorded webhooks on its way?" at most once per this many seconds;
# webhooks in between are covered by one check at the window's end, so processing starts at most this much later
# (core/webhooks.py, inbound_event_enqueue). 0: a check per webhook.
WEBHOOK_DISPATCH_COALESCE_SECONDS = env.float("WEBHOOK_DISPATCH_COALESCE_SECONDS", default=0.05)

__all__ = [
    "MESSAGING_PENDING_MAX_AGE_SECONDS",
    "MESSAGING_RETRY_BASE_SECONDS",
    "MESSAGING_RETRY_MAX_SECONDS",
    "MESSAGING_STALE_SENDING_SECONDS",
    "TWILIO_TIMEOUT_SECONDS",
    "WEBHOOK_DISPATCH_COALESCE_SECONDS",
    "WEBHOOK_MAX_BODY_BYTES",
]
