"""Lead intakes and keyword replies name CRM ids generically and get the CRM connection they belong to: zoho_lead_id
is crm_record_id, owner_zoho_id crm_owner_id, task_zoho_id crm_task_id (64 characters: other CRMs' ids are
longer), and a `connection` (a studios.ProviderAccount, empty here: 0003 fills it, 0004 makes an intake's
required). Schema, data and constraints are separate migrations: PostgreSQL will not build an index or alter a
table whose rows the same transaction has just updated under a deferred foreign key."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0001_initial"),
        ("studios", "0003_member_crm_users"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="leadintake", name="lead_intake_unique_lead"),
        migrations.RenameField(model_name="leadintake", old_name="zoho_lead_id", new_name="crm_record_id"),
        migrations.RenameField(model_name="leadintake", old_name="owner_zoho_id", new_name="crm_owner_id"),
        migrations.RenameField(model_name="leadintake", old_name="task_zoho_id", new_name="crm_task_id"),
        migrations.RenameField(model_name="replyfollowup", old_name="zoho_lead_id", new_name="crm_record_id"),
        migrations.RenameField(model_name="replyfollowup", old_name="task_zoho_id", new_name="crm_task_id"),
        migrations.AlterField(
            model_name="leadintake",
            name="crm_record_id",
            field=models.CharField(max_length=64, verbose_name="CRM lead id"),
        ),
        migrations.AlterField(
            model_name="leadintake",
            name="crm_owner_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="CRM owner's user id"),
        ),
        migrations.AlterField(
            model_name="leadintake",
            name="crm_task_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="CRM task id"),
        ),
        migrations.AlterField(
            model_name="replyfollowup",
            name="crm_record_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="CRM lead id"),
        ),
        migrations.AlterField(
            model_name="replyfollowup",
            name="crm_task_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="CRM task id"),
        ),
        migrations.AlterField(
            model_name="leadintake",
            name="status",
            field=models.CharField(
                choices=[
                    ("received", "Received"),
                    ("waiting", "Waiting for the CRM"),
                    ("done", "Done"),
                    ("needs_attention", "Needs attention"),
                ],
                default="received",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="automationsettings",
            name="lead_studio_field",
            field=models.CharField(
                blank=True,
                help_text="The CRM's API name of a lead field naming the studio (its name or slug); tried before "
                "the lead owner.",
                max_length=100,
            ),
        ),
        migrations.AlterField(
            model_name="automationsettings",
            name="reply_match_minutes",
            field=models.PositiveIntegerField(
                default=20,
                help_text="How long a reply from an unknown number keeps trying to find its lead in the CRM.",
            ),
        ),
        migrations.AddField(
            model_name="leadintake",
            name="connection",
            field=models.ForeignKey(
                null=True,
                help_text="The CRM connection the lead was created in.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="studios.provideraccount",
            ),
        ),
        migrations.AddField(
            model_name="replyfollowup",
            name="connection",
            field=models.ForeignKey(
                blank=True,
                null=True,
                help_text="The CRM connection the lead was looked up in; empty until then, or when the organization "
                "has none.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="studios.provideraccount",
            ),
        ),
    ]
