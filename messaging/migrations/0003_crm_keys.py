"""Contacts name their CRM record generically: crm_module is crm_object (0004 turns its values into canonical object
names), ids get 64 characters (other CRMs' are longer), and contacts and CRM write-backs get a nullable
`connection` (a studios.ProviderAccount; 0004 fills it). Schema and data are separate migrations: PostgreSQL will
not build an index on a table whose rows the same transaction has just updated under a deferred foreign key."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_sender_blocks_send_requests"),
        ("studios", "0003_member_crm_users"),
    ]

    operations = [
        migrations.RenameField(model_name="contact", old_name="crm_module", new_name="crm_object"),
        migrations.AlterField(
            model_name="contact",
            name="crm_object",
            field=models.CharField(
                blank=True,
                help_text="lead or contact (canonical names), when linked.",
                max_length=64,
                verbose_name="CRM object",
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="crm_record_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="CRM record id"),
        ),
        migrations.AlterField(
            model_name="contact",
            name="crm_owner_id",
            field=models.CharField(
                blank=True,
                help_text="Routes replies on shared numbers.",
                max_length=64,
                verbose_name="CRM owner's user id",
            ),
        ),
        migrations.AddField(
            model_name="contact",
            name="connection",
            field=models.ForeignKey(
                blank=True,
                null=True,
                help_text="The CRM connection of the linked record; empty while the contact is linked to none.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="studios.provideraccount",
            ),
        ),
        migrations.AddField(
            model_name="crmwriteback",
            name="connection",
            field=models.ForeignKey(
                blank=True,
                null=True,
                help_text="The CRM connection to write to; empty: the organization's CRM connection when it is "
                "written.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="studios.provideraccount",
            ),
        ),
    ]
