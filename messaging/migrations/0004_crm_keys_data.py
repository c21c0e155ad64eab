"""Contacts name their CRM record generically: crm_module is crm_object holding canonical object names (Leads ->
lead, Contacts -> contact, ...), and a linked contact gets the CRM connection (a studios.ProviderAccount) its ids
belong to: the organization's default Zoho CRM account, else its first by name, else one made without credentials
("zoho-crm", not connected). An unlinked contact keeps no connection. A CRM write-back gets the organization's
Zoho CRM account when it has one (else it is chosen when the write-back is written). No row is dropped; reversible."""

from django.db import migrations
from django.db.models import Case, F, OuterRef, Subquery, Value, When

ZOHO_DEFAULT_URLS = {"accounts_url": "https://accounts.zoho.com", "api_domain": "https://www.zohoapis.com"}
CANONICAL = {"Leads": "lead", "Contacts": "contact", "Accounts": "account", "Deals": "deal", "Tasks": "task"}


def _zoho_account(ProviderAccount, organization_id):
    accounts = ProviderAccount._default_manager.filter(organization_id=organization_id, kind="zoho_crm")
    found = accounts.filter(is_default=True).first() or accounts.order_by("name").first()
    if found is not None:
        return found
    taken = set(ProviderAccount._default_manager.filter(organization_id=organization_id).values_list("name", flat=True))
    name = next(n for n in ("zoho-crm", *(f"zoho-crm-{i}" for i in range(2, 1000))) if n not in taken)
    return ProviderAccount._default_manager.create(
        organization_id=organization_id, name=name, kind="zoho_crm", is_default=True, **ZOHO_DEFAULT_URLS
    )


def _chosen(ProviderAccount):
    """The same choice as _zoho_account, for one UPDATE: the default first, else the first by name."""
    return (
        ProviderAccount._default_manager.filter(organization_id=OuterRef("organization_id"), kind="zoho_crm")
        .order_by("-is_default", "name")
        .values("pk")[:1]
    )


def _renamed(column, names):
    return Case(*(When(**{column: old}, then=Value(new)) for old, new in names.items()), default=F(column))


def crm_keys_forward(apps, schema_editor):
    ProviderAccount = apps.get_model("studios", "ProviderAccount")
    contacts = apps.get_model("messaging", "Contact")._default_manager
    contacts.filter(crm_object__in=list(CANONICAL)).update(crm_object=_renamed("crm_object", CANONICAL))
    linked = contacts.exclude(crm_record_id="")
    for organization_id in linked.order_by().values_list("organization_id", flat=True).distinct():
        _zoho_account(ProviderAccount, organization_id)
    linked.update(connection_id=Subquery(_chosen(ProviderAccount)))
    write_backs = apps.get_model("messaging", "CrmWriteBack")._default_manager
    write_backs.update(connection_id=Subquery(_chosen(ProviderAccount)))


def crm_keys_backward(apps, schema_editor):
    contacts = apps.get_model("messaging", "Contact")._default_manager
    vendor = {new: old for old, new in CANONICAL.items()}
    contacts.filter(crm_object__in=list(vendor)).update(crm_object=_renamed("crm_object", vendor))


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_crm_keys"),
    ]

    operations = [
        migrations.RunPython(crm_keys_forward, crm_keys_backward),
    ]
