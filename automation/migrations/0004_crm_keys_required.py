"""Every intake has its CRM connection (0003 filled them), and a lead is unique per (organization, connection, CRM
lead id): two CRMs may use the same id."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0003_crm_keys_data"),
    ]

    operations = [
        migrations.AlterField(
            model_name="leadintake",
            name="connection",
            field=models.ForeignKey(
                help_text="The CRM connection the lead was created in.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="studios.provideraccount",
            ),
        ),
        migrations.AddConstraint(
            model_name="leadintake",
            constraint=models.UniqueConstraint(
                fields=("organization", "connection", "crm_record_id"), name="lead_intake_unique_lead"
            ),
        ),
    ]
