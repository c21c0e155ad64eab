"""CRM mirror settings: which modules, how far each delta read overlaps the last, batch sizes, the run lease."""

from config.env import env

# CRM objects mirrored for every connection, by Leadline's names (every CRM has them; a CRM's own names, e.g. a
# `Leads` module, are read as the same objects); a custom object's API name may be added.
SYNC_MODULES = env.list("SYNC_MODULES", default=["lead", "deal", "contact", "account"])
# Each delta read starts this long before the watermark: a CRM may stamp the modified time when an edit starts, so an
# edit committing slowly can appear behind records already read.
SYNC_OVERLAP_SECONDS = env.int("SYNC_OVERLAP_SECONDS", default=60)
# Rows per upsert statement and commit (STYLE §4: ~1,000 beats 200 by 20-40%; 5,000 gains nothing).
SYNC_BATCH_SIZE = env.int("SYNC_BATCH_SIZE", default=1000)
# Records per page read from the CRM (the provider caps it at its API's maximum; smaller pages cost more API credits
# per record). The name is older than the CRM layer.
SYNC_COQL_PAGE_SIZE = env.int("SYNC_COQL_PAGE_SIZE", default=2000)
# Records per page of a CRM's change tracking (sync/tracked.py); the provider caps it at its API's maximum.
SYNC_TRACKED_PAGE_SIZE = env.int("SYNC_TRACKED_PAGE_SIZE", default=5000)
# Columns per query, for a CRM whose queries name their columns; more are read in further queries by id.
SYNC_COQL_MAX_COLUMNS = env.int("SYNC_COQL_MAX_COLUMNS", default=450)
# A run renews its lock per batch; a crashed run's lock is free once this lease has passed.
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=600)
# Phone numbers without a country code are read in this region when normalized to E.164.
SYNC_PHONE_DEFAULT_REGION = env.str("SYNC_PHONE_DEFAULT_REGION", default="US")
# Alerts when a module fails twice in a row or has not succeeded for three intervals (and when it recovers):
# a Slack incoming webhook (empty: off) and e-mail to these addresses (empty: off).
SYNC_ALERT_SLACK_WEBHOOK_URL = env.str("SYNC_ALERT_SLACK_WEBHOOK_URL", default="")
SYNC_ALERT_EMAILS = env.list("SYNC_ALERT_EMAILS", default=[])
# A full reconciliation (every id against the CRM: permanent deletes; formula fields re-read) per object this often.
SYNC_RECONCILE_HOURS = env.int("SYNC_RECONCILE_HOURS", default=24)
# A run stopped by the CRM org's used-up API allocation (CrmQuotaExhausted) waits as long as the CRM said; this long
# when it did not say.
SYNC_QUOTA_WAIT_SECONDS = env.int("SYNC_QUOTA_WAIT_SECONDS", default=3600)
# Lead automation, for a new lead the mirror found whose CRM new-lead call (webhook, Flow callout) has not come: only
# leads created at most this many minutes before they were found (0: two sync intervals plus an hour).
AUTOMATION_DISCOVERED_LEAD_MAX_AGE_MINUTES = env.int("AUTOMATION_DISCOVERED_LEAD_MAX_AGE_MINUTES", default=0)
# Two-way sync (links/): one apply of a link works this many seconds, then hands over to a new task; changes are
# planned this many at a time (one transaction each); more than LINKS_LOOP_LIMIT writes to one record's side in an
# hour is taken for a loop (the write fails as LOOP_SUSPECTED); a transient failure is retried this many times; a link
# whose oldest unwritten change is older than LINKS_LAG_ALERT_SECONDS alerts.
LINKS_APPLY_BUDGET_SECONDS = env.int("LINKS_APPLY_BUDGET_SECONDS", default=50)
LINKS_PLAN_CHUNK = env.int("LINKS_PLAN_CHUNK", default=500)
LINKS_LOOP_LIMIT = env.int("LINKS_LOOP_LIMIT", default=20)
LINKS_WRITE_MAX_ATTEMPTS = env.int("LINKS_WRITE_MAX_ATTEMPTS", default=8)
LINKS_LAG_ALERT_SECONDS = env.int("LINKS_LAG_ALERT_SECONDS", default=1800)
# A link's apply lease, and how long a write may stay SENDING before it is taken for a crashed worker's and sent again.
LINKS_LEASE_SECONDS = env.int("LINKS_LEASE_SECONDS", default=300)
