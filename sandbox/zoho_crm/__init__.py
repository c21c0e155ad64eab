"""Zoho CRM v8: records (store.py), the data they start with (seed.py, schema.py), COQL (coql.py), the REST
endpoints (api.py), Bulk Read (bulk.py), Notifications (notifications.py), workflow webhooks (workflows.py)
and API credits and concurrency (limits.py)."""
