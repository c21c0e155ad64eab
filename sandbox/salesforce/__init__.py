"""The Salesforce emulator: orgs, OAuth and sessions (state.py, with state_org.py, state_auth.py and
state_records.py; oauth.py), ids (ids.py), describe metadata (schema.py; the field tables in schema_objects.py,
written with schema_fields.py), the data API's gate and shapes (calls.py), sObject rows and collections (sobjects.py,
validation.py), the versions list and limits (resources.py), SOQL, query locators, getUpdated/getDeleted, SOSL and
Bulk API 2.0 queries (soql.py over soql_parse.py, soql_compile.py and soql_plan.py; query.py, changes.py,
search.py, bulk2.py), the record-triggered Flow callout (flow.py), realistic data (seed.py) and the control API
under /_sandbox/salesforce/ (control.py). api.py gathers the routes.
"""
