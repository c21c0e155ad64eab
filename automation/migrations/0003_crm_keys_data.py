"""Every intake, and every reply that names a CRM record, gets its CRM connection: the organization's default Zoho
CRM account, else its first by name, else one made without credentials ("zoho-crm", not connected). No row is
dropped; a reply that never found its lead keeps none."""

from django.db import migrations
from django.db.models import OuterRef, Q, Subquery

ZOHO_DEFAULT_URLS = {"accounts_url": "https://accounts.zoho.com", "api_domain": "https://www.zohoapis.com"}


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


def _fill(ProviderAccount, rows):
    """One account for every organization with such rows (made where missing), then one UPDATE: the same choice
    as _zoho_account (the default first, else the first by name)."""
    for organization_id in rows.order_by().values_list("organization_id", flat=True).distinct():
        _zoho_account(ProviderAccount, organization_id)
    chosen = (
        ProviderAccount._default_manager.filter(organization_id=OuterRef("organization_id"), kind="zoho_crm")
        .order_by("-is_default", "name")
        .values("pk")[:1]
    )
    rows.update(connection_id=Subquery(chosen))


def connections_fill(apps, schema_editor):
    ProviderAccount = apps.get_model("studios", "ProviderAccount")
    _fill(ProviderAccount, apps.get_model("automation", "LeadIntake")._default_manager.all())
    replies = apps.get_model("automation", "ReplyFollowUp")._default_manager
    # A reply that never found its lead names no CRM record: it stays without a connection.
    _fill(ProviderAccount, replies.filter(~Q(crm_record_id="") | ~Q(crm_task_id="")))


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0002_crm_keys"),
    ]

    operations = [
        migrations.RunPython(connections_fill, migrations.RunPython.noop),
    ]
