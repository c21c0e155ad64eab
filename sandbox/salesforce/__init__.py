"""The Salesforce emulator: orgs, OAuth and sessions (state.py, oauth.py), ids (ids.py), describe metadata
(schema.py), the data API's gate and shapes (calls.py), sObject rows and collections (sobjects.py, validation.py),
the versions list and limits (resources.py), SOQL, query locators, getUpdated/getDeleted, SOSL and Bulk API 2.0
queries (soql.py, query.py, changes.py, search.py, bulk2.py), the record-triggered Flow callout (flow.py),
realistic data (seed.py) and the control API under /_sandbox/salesforce/ (control.py). api.py gathers the routes.
"""
