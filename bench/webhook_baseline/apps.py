from django.apps import AppConfig


class WebhookBaselineConfig(AppConfig):
    name = "bench.webhook_baseline"
    label = "webhook_baseline"
    default_auto_field = "django.db.models.BigAutoField"
