"""One package per CRM: `<kind>/provider.py` registers a CrmProvider (crm.registry.autodiscover imports it)."""
