"""Members' CRM user ids move from Membership.zoho_user_id to MemberCrmUser, one per (member, CRM connection), since
an organization may connect two CRMs. Every id is kept: it goes to the organization's default Zoho CRM account (or
its only one; with several and no default, the first by name). An organization whose members have Zoho user ids but
that has no Zoho CRM account gets one without credentials ("zoho-crm", not connected), so the ids keep their
meaning until a manager connects it."""

import django.core.validators
import django.db.models.deletion
import django.db.models.manager
from django.db import migrations, models


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


def member_crm_users_from_zoho_ids(apps, schema_editor):
    Membership = apps.get_model("studios", "Membership")
    ProviderAccount = apps.get_model("studios", "ProviderAccount")
    MemberCrmUser = apps.get_model("studios", "MemberCrmUser")
    members = Membership._default_manager.exclude(zoho_user_id="").order_by("organization_id", "pk")
    accounts = {}
    links = []
    for membership in members.iterator():
        org = membership.organization_id
        if org not in accounts:
            accounts[org] = _zoho_account(ProviderAccount, org)
        links.append(
            MemberCrmUser(
                organization_id=org,
                membership_id=membership.pk,
                connection_id=accounts[org].pk,
                crm_user_id=membership.zoho_user_id,
            )
        )
    MemberCrmUser._default_manager.bulk_create(links, batch_size=1000)


def member_crm_users_to_zoho_ids(apps, schema_editor):
    Membership = apps.get_model("studios", "Membership")
    MemberCrmUser = apps.get_model("studios", "MemberCrmUser")
    # Back to one id per member: the Zoho CRM one (the old column knew no other CRM).
    for link in MemberCrmUser._default_manager.filter(connection__kind="zoho_crm").order_by("pk").iterator():
        Membership._default_manager.filter(pk=link.membership_id, zoho_user_id="").update(zoho_user_id=link.crm_user_id)


class Migration(migrations.Migration):
    dependencies = [
        ("studios", "0002_provider_account_custom_endpoints"),
    ]

    operations = [
        migrations.CreateModel(
            name="MemberCrmUser",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "crm_user_id",
                    models.CharField(
                        max_length=64,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$",
                                "A CRM user id is up to 64 letters, digits and . _ : @ - (as the CRM shows it).",
                            )
                        ],
                        verbose_name="CRM user id",
                    ),
                ),
            ],
            options={
                "verbose_name": "member's CRM user",
                "ordering": ["membership_id", "connection_id"],
                "abstract": False,
                "base_manager_name": "unscoped_objects",
                "default_manager_name": "unscoped_objects",
            },
            managers=[
                ("unscoped_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.AddField(
            model_name="membercrmuser",
            name="connection",
            field=models.ForeignKey(
                help_text="The CRM connection (a CRM provider account) this user id belongs to.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="member_crm_users",
                to="studios.provideraccount",
            ),
        ),
        migrations.AddField(
            model_name="membercrmuser",
            name="membership",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="crm_users", to="studios.membership"
            ),
        ),
        migrations.AddField(
            model_name="membercrmuser",
            name="organization",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="studios.organization"
            ),
        ),
        migrations.AddConstraint(
            model_name="membercrmuser",
            constraint=models.UniqueConstraint(
                fields=("connection", "crm_user_id"), name="member_crm_user_unique_user"
            ),
        ),
        migrations.AddConstraint(
            model_name="membercrmuser",
            constraint=models.UniqueConstraint(
                fields=("membership", "connection"), name="member_crm_user_one_per_connection"
            ),
        ),
        migrations.RunPython(member_crm_users_from_zoho_ids, member_crm_users_to_zoho_ids),
        migrations.RemoveConstraint(
            model_name="membership",
            name="membership_unique_zoho_user_per_organization",
        ),
        migrations.RemoveField(
            model_name="membership",
            name="zoho_user_id",
        ),
    ]
