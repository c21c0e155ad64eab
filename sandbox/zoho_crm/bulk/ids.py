"""Zoho's module ids (`query.module.id`, `resource_id`) under an org's id prefix, shared with notifications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.zoho_crm.store import ORG_ID_PREFIX

if TYPE_CHECKING:
    from sandbox.zoho_crm.orgs import ZohoOrg

# Zoho's ids of the standard modules end like these in every org (schema.MODULE_IDS wins where it has one);
# other modules get a stable made-up id.
_STANDARD_MODULE_SUFFIXES = {
    "Leads": 2175,
    "Accounts": 2177,
    "Contacts": 2179,
    "Deals": 2181,
    "Campaigns": 2183,
    "Cases": 2187,
    "Events": 2189,
    "Calls": 2191,
    "Tasks": 2193,
    "Notes": 2195,
}


def module_id(api_name: str, prefix: str = ORG_ID_PREFIX) -> str:
    """The module's id (under the org's id prefix) as Zoho reports it in `query.module.id` and `resource_id`s."""
    try:
        from sandbox.zoho_crm.schema import MODULE_IDS
    except ImportError:  # the schema is another helper's; the sandbox works without it
        MODULE_IDS = {}
    suffix = MODULE_IDS.get(api_name) or _STANDARD_MODULE_SUFFIXES.get(api_name)
    if suffix is None:
        suffix = 3000 + sum(ord(char) * (index + 1) for index, char in enumerate(api_name)) % 6000
    return f"{prefix}{suffix:012d}"


def org_prefix(org: ZohoOrg) -> str:
    return getattr(org, "prefix", None) or ORG_ID_PREFIX
