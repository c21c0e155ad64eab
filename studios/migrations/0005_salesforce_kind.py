"""Salesforce, a CRM kind of provider account: the kind's choices and check constraint, and a member's CRM user id may be
on a Salesforce connection. No column or row changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('studios', '0004_provider_account_generic_labels'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='provideraccount',
            name='provider_account_kind_valid',
        ),
        migrations.AlterField(
            model_name='membercrmuser',
            name='connection',
            field=models.ForeignKey(help_text='The CRM connection (a CRM provider account) this user id belongs to.', limit_choices_to={'kind__in': ['salesforce', 'zoho_crm']}, on_delete=django.db.models.deletion.CASCADE, related_name='member_crm_users', to='studios.provideraccount'),
        ),
        migrations.AlterField(
            model_name='provideraccount',
            name='kind',
            field=models.CharField(choices=[('twilio', 'Twilio'), ('zoho_crm', 'Zoho CRM'), ('zoho_voice', 'Zoho Voice'), ('salesforce', 'Salesforce')], max_length=16),
        ),
        migrations.AlterField(
            model_name='studioaccount',
            name='kind',
            field=models.CharField(choices=[('twilio', 'Twilio'), ('zoho_crm', 'Zoho CRM'), ('zoho_voice', 'Zoho Voice'), ('salesforce', 'Salesforce')], editable=False, max_length=16),
        ),
        migrations.AddConstraint(
            model_name='provideraccount',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['twilio', 'zoho_crm', 'zoho_voice', 'salesforce'])), name='provider_account_kind_valid'),
        ),
    ]
