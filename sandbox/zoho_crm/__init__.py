"""Zoho CRM v8: records (store.py), orgs with their users, credits and concurrency (orgs.py, calls.py), the
data they start with (schema.py, seed.py), the REST endpoints (api.py: records_read.py, records_write.py,
paging.py, search.py, meta_api.py, validation.py), COQL (coql/), Bulk Read (bulk/), Notifications
(notifications/), workflow webhooks (workflows.py) and the control API (control.py)."""
