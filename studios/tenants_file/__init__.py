"""`manage.py tenants apply|export`: organizations, studios, numbers, members and provider accounts as a file.

schema.py reads and checks the file's shape, apply.py writes it in one transaction, export.py writes it back.
"""

from studios.tenants_file.apply import ApplyReport, tenants_apply
from studios.tenants_file.export import tenants_export
from studios.tenants_file.schema import TenantsFileError, load_document, parse_document

__all__ = ["ApplyReport", "TenantsFileError", "load_document", "parse_document", "tenants_apply", "tenants_export"]
