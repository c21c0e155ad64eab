"""Twilio's webhooks, mounted at /webhooks/twilio/."""

from django.urls import path

from messaging import webhooks

app_name = "messaging"
urlpatterns = [
    path("sms/", webhooks.twilio_sms_inbound, name="twilio-sms"),
    path("status/", webhooks.twilio_status_callback, name="twilio-status"),
]
