# The source's help text names no vendor (state only: no SQL).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0004_inbound_event_raw_body")]

    operations = [
        migrations.AlterField(
            model_name="inboundevent",
            name="source",
            field=models.CharField(
                help_text=(
                    "Who sent it and what it is (provider.event); the processor registered under this name handles it"
                ),
                max_length=32,
            ),
        ),
    ]
