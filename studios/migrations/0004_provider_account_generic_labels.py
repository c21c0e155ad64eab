"""Labels only: a provider account's URL fields are described without naming a vendor, and a member's CRM user id
may only be on a CRM connection. No column or row changes."""

import django.db.models.deletion
from django.db import migrations, models

import studios.models


class Migration(migrations.Migration):
    dependencies = [
        ("studios", "0003_member_crm_users"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provideraccount",
            name="api_base_url",
            field=studios.models.VendorURLField(
                blank=True,
                help_text="The vendor's API, for kinds that use one; blank: the vendor's default.",
                verbose_name="API base URL",
            ),
        ),
        migrations.AlterField(
            model_name="provideraccount",
            name="accounts_url",
            field=studios.models.VendorURLField(
                blank=True,
                help_text="Where the vendor's OAuth lives for the account's region (data centre); blank: the default.",
                verbose_name="OAuth accounts server",
            ),
        ),
        migrations.AlterField(
            model_name="provideraccount",
            name="api_domain",
            field=studios.models.VendorURLField(
                blank=True,
                help_text="The CRM's API host for the account's region; blank: the default.",
                verbose_name="API domain",
            ),
        ),
        migrations.AlterField(
            model_name="membercrmuser",
            name="connection",
            field=models.ForeignKey(
                help_text="The CRM connection (a CRM provider account) this user id belongs to.",
                limit_choices_to={"kind__in": ["zoho_crm"]},
                on_delete=django.db.models.deletion.CASCADE,
                related_name="member_crm_users",
                to="studios.provideraccount",
            ),
        ),
    ]
