"""Dynamics 365 pages: the end of the connect flow (also reached from /crm/oauth/callback, which every CRM
shares)."""

from django.urls import path

from crm.providers.dynamics import views

app_name = "dynamics"
urlpatterns = [
    path("oauth/callback/", views.oauth_callback, name="oauth-callback"),
]
