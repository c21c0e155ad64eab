"""Celery: JSON only, late acks, time limits, one queue per subsystem, schedules in django-celery-beat.

With REDIS_URL (or CELERY_BROKER_URL) set, Redis carries tasks. Without it, the embedded default uses kombu's
filesystem transport: a real worker and a real beat process exchange messages through files under var/celery,
so `make run` behaves like production (tasks run after commit, in another process) with no server to install.
"""

from pathlib import Path

from config.env import BASE_DIR, env

_redis_url = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or _redis_url or "filesystem://localhost/"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or _redis_url or None

CELERY_FILESYSTEM_BROKER_DIR = Path(env.str("CELERY_FILESYSTEM_BROKER_DIR", default=str(BASE_DIR / "var" / "celery")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = CELERY_FILESYSTEM_BROKER_DIR / "queue"
    # The worker and the producers read and write one folder; the control folder carries broadcast (inspect/ping).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(CELERY_FILESYSTEM_BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_RESULT_BACKEND is None:
        CELERY_RESULT_BACKEND = f"file://{CELERY_FILESYSTEM_BROKER_DIR / 'results'}"
else:
    # Redis: a task not acknowledged within the visibility timeout is redelivered; it must outlast the hard limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

CELERY_TIMEZONE = "UTC"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 24 * 3600
# Tasks report outcomes in the database, not in results; a caller that needs a result asks for it per call.
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge after the task ran, so a worker killed mid-task hands it to another worker. Tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = True

# One queue per subsystem, so a backlog of sync work never delays a staff member's text. Lead automation and the
# CRM layer share `crm` (calls to the customer's CRM, under its rate limits).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_ALL = ("default", "messaging", "crm", "sync")
CELERY_TASK_ROUTES = {
    "messaging.*": {"queue": "messaging"},
    "automation.*": {"queue": "crm"},
    "crm.*": {"queue": "crm"},
    "sync.*": {"queue": "sync"},
    "links.*": {"queue": "sync"},  # two-way sync writes are CRM calls behind the mirror, at its pace
}
# Queues nothing is routed to any more, still consumed by the Procfiles' workers so that a message published before
# a deploy is not lost (the retired name was `crm`'s first one; docs/operations.md says when it may go).
CELERY_TASK_QUEUES_RETIRED = ("zoho",)

# Periodic jobs are declared here (reviewable in pull requests) and copied by django-celery-beat into the
# database, where operators can pause or reschedule them in the admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict = {
    # The safety nets behind on_commit enqueueing: webhooks and sends whose task never ran.
    "inbound-events-sweep": {"task": "core.tasks.inbound_events_sweep_task", "schedule": 60.0},
    "messages-retry-due": {"task": "messaging.tasks.messages_retry_due_task", "schedule": 30.0},
    "messages-stale-sending": {"task": "messaging.tasks.messages_stale_sending_task", "schedule": 300.0},
    "automation-due": {"task": "automation.tasks.automation_due_task", "schedule": 60.0},
    "crm-write-backs-flush": {"task": "automation.tasks.crm_write_backs_flush_task", "schedule": 60.0},
    "crm-timeline-flush": {"task": "automation.tasks.crm_timeline_flush_task", "schedule": 60.0},
    # The CRM mirror: enqueue every (organization, module) whose interval has passed; alert on failures.
    "sync-due": {"task": "sync.tasks.sync_due_task", "schedule": 60.0},
    # Two-way sync links: act on changes and writes whose task never ran, retry due writes, alert on incidents.
    "links-due": {"task": "links.tasks.links_due_task", "schedule": 60.0},
    # CRM change-feed subscriptions (near-real-time mirror): created, renewed before they expire, re-enabled.
    "sync-notification-channels": {"task": "sync.tasks.channels_renew_due_task", "schedule": 1800.0},
    # Widget sign-ins that can no longer sign anyone in (expired or revoked over a day ago).
    "widget-tokens-expired": {"task": "accounts.tasks.widget_tokens_expired_delete_task", "schedule": 3600.0},
    # Expired browser sessions (`clearsessions`): the session table only grows otherwise.
    "sessions-expired": {"task": "accounts.tasks.sessions_expired_delete_task", "schedule": 3600.0},
    # An SMS provider that sends no inbound webhook (docs/messaging.md): each number's SMS logs are polled. The
    # entry's name is its row in django-celery-beat's table, so it keeps the name it has in every deployment.
    "zoho-voice-poll-all": {
        "task": "messaging.tasks.zoho_voice_poll_all_task",
        "schedule": float(env.int("ZOHO_VOICE_POLL_SECONDS", default=60)),
    },
}

# Liveness seen from outside the processes (core/health.py, /readyz/background): beat publishes a heartbeat task to
# every queue this often; a queue's worker not heard from (or beat, which records itself as it publishes) for the
# staleness period is reported. Stale must outlast a few intervals and a busy queue's longest task (the hard limit).
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=60)
HEARTBEAT_STALE_SECONDS = env.int("HEARTBEAT_STALE_SECONDS", default=max(5 * 60, CELERY_TASK_TIME_LIMIT + 60))
HEARTBEAT_QUEUES = env.list("HEARTBEAT_QUEUES", default=list(CELERY_TASK_QUEUES_ALL))
for _queue in HEARTBEAT_QUEUES:
    CELERY_BEAT_SCHEDULE[f"heartbeat-{_queue}"] = {
        "task": "core.tasks.heartbeat_task",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
        "args": [_queue],
        "options": {"queue": _queue, "expire_seconds": HEARTBEAT_STALE_SECONDS},
    }

__all__ = [name for name in dir() if name.startswith(("CELERY_", "HEARTBEAT_"))]
