"""Mounted at /webhooks/zoho/leads/."""

from django.urls import path

from automation import webhooks

app_name = "automation"
urlpatterns = [path("<str:token>/", webhooks.zoho_lead_webhook, name="zoho-lead-webhook")]
