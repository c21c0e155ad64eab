"""Zoho CRM v8 REST under /crm/v8: every route of the records, users, fields, org and search endpoints.

Each handler goes through `calls.crm_endpoint` (authenticate, scope, concurrency, 1 credit per call:
docs/vendors/zoho-crm.md, Limits and errors). The handlers live in records_read.py (Get Records, one record, deleted),
search.py, records_write.py (insert, update, upsert, delete) and meta_api.py (users, fields, modules, org).
"""

from sandbox.zoho_crm import meta_api, records_read, records_write, search

ROUTES = [
    ("/crm/v8/users", ["GET"], meta_api.get_users),
    ("/crm/v8/users/<user_id>", ["GET"], meta_api.get_user),
    ("/crm/v8/org", ["GET"], meta_api.get_org),
    ("/crm/v8/settings/fields", ["GET"], meta_api.get_fields),
    ("/crm/v8/settings/fields/<field_id>", ["GET"], meta_api.get_field),
    ("/crm/v8/settings/modules", ["GET"], meta_api.get_modules),
    ("/crm/v8/<module>", ["GET"], records_read.get_records),
    ("/crm/v8/<module>", ["POST"], records_write.insert_records),
    ("/crm/v8/<module>", ["PUT"], records_write.update_records),
    ("/crm/v8/<module>", ["DELETE"], records_write.delete_records),
    ("/crm/v8/<module>/deleted", ["GET"], records_read.deleted_records),
    ("/crm/v8/<module>/upsert", ["POST"], records_write.upsert_records),
    ("/crm/v8/<module>/search", ["GET"], search.search_records),
    ("/crm/v8/<module>/<record_id>", ["GET"], records_read.get_record),
    ("/crm/v8/<module>/<record_id>", ["PUT"], records_write.update_record),
    ("/crm/v8/<module>/<record_id>", ["DELETE"], records_write.delete_record),
]
