"""Zoho pages: the end of the connect flow (its callback as customers registered it; /crm/oauth/callback too)."""

from django.urls import path

from crm.providers.zoho import views

app_name = "zoho"
urlpatterns = [
    path("oauth/callback/", views.oauth_callback, name="oauth-callback"),
]
