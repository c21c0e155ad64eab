# One connected CRM account per Zoho org. Rows that already share an org keep it on the first verified connection
# (earliest connected_at, then lowest id); the others lose the claim and say so, for an operator to sort out.

from django.db import migrations, models


def release_later_claims(apps, schema_editor):
    ZohoConnection = apps.get_model("zoho", "ZohoConnection")
    claims = (
        ZohoConnection._default_manager.exclude(zoho_org_id="")
        .exclude(state="not_connected")
        .order_by("zoho_org_id", models.F("connected_at").asc(nulls_last=True), "id")
    )
    holder = None
    for connection in claims.iterator():
        if holder != connection.zoho_org_id:
            holder = connection.zoho_org_id  # the first verified connection keeps the org
            continue
        connection.last_error = (
            f"The Zoho org {connection.zoho_org_id} is connected to another Leadline organization first; this "
            "connection no longer holds it. An operator must check which organization the org belongs to."
        )
        connection.zoho_org_id = ""
        connection.state = "error"
        connection.save(update_fields=["zoho_org_id", "state", "last_error"])


class Migration(migrations.Migration):
    dependencies = [
        ("studios", "0002_provider_account_custom_endpoints"),
        ("zoho", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(release_later_claims, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="zohoconnection",
            constraint=models.UniqueConstraint(
                condition=models.Q(~models.Q(zoho_org_id=""), ~models.Q(state="not_connected")),
                fields=("zoho_org_id",),
                name="zoho_connection_one_claim_per_zoho_org",
                violation_error_message="This Zoho org is already connected to another Leadline organization.",
            ),
        ),
    ]
