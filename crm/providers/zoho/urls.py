"""Zoho pages: the OAuth connect flow's callback."""

from django.urls import path

from crm.providers.zoho import views

app_name = "zoho"
urlpatterns = [
    path("oauth/callback/", views.oauth_callback, name="oauth-callback"),
]
