from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from automation.webhooks import crm_app_events, crm_lead_webhook
from core import health
from crm import providers as crm_providers
from identity.views import crm_oauth_callback
from sync.webhooks import crm_notification

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/background", health.readyz_background, name="readyz-background"),
    path("admin/", admin.site.urls),
    path("webhooks/twilio/", include("messaging.urls")),
    path("webhooks/crm/<str:kind>/leads/<str:token>/", crm_lead_webhook, name="crm-lead-webhook"),
    path("webhooks/crm/<str:kind>/notifications/", crm_notification, name="crm-notification"),
    # One URL for every connected account of a CRM with app-level events (signed by the CRM, each event names its
    # account); before the short URL below, so "events" is never read as a token.
    path("webhooks/crm/<str:kind>/events/", crm_app_events, name="crm-app-events"),
    # The short new-lead URL a CRM flow's HTTP callout is documented with; after notifications/ and events/
    # (those words are never tokens).
    path("webhooks/crm/<str:kind>/<str:token>/", crm_lead_webhook, name="crm-lead-webhook-short"),
    path("crm/oauth/callback", crm_oauth_callback, name="crm-oauth-callback"),  # every CRM's connect and sign-in
    # The first URLs, from before routes named the CRM layer: customers' CRM workflows call them, so they answer
    # as the ones above (an unknown kind is a 404 there too).
    path("webhooks/<str:kind>/leads/<str:token>/", crm_lead_webhook, name="crm-lead-webhook-first"),
    path("webhooks/<str:kind>/notifications/", crm_notification, name="crm-notification-first"),
    # A CRM package's own pages under /<package>/ (e.g. a connect callback as customers registered it).
    *(path(f"{name}/", include(f"crm.providers.{name}.urls")) for name in crm_providers.packages_with_urls()),
    path("ops/sync/", include("sync.urls")),
    path("api/v1/", include("widget.api.urls")),
    path("app/", include("widget.urls")),
    path("auth/", include("identity.auth_urls")),
    path("accounts/", include("identity.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
