"""The HubSpot emulator, served under /hubspot/ on the sandbox host: portals, apps and OAuth tokens (state.py, with
state_portal.py, state_auth.py, state_associations.py, state_changes.py and state_lookups.py), object and
association types (catalog.py), property definitions and values (schema.py), the gate every API call goes through
and HubSpot's error shapes (calls.py), record shapes (shapes.py), OAuth (oauth.py), objects one at a time and in
batches (objects.py, batch.py), the properties, owners and associations v4 APIs (properties.py, owners.py,
associations.py), CRM search (search.py), app webhooks (webhooks.py, control_webhooks.py), the record page the
product links to (record_page.py), realistic data (seed.py) and the control API under /_sandbox/hubspot/
(control.py). api.py gathers the routes.
"""
