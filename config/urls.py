from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from core import health
from identity.views import crm_oauth_callback
from sync.webhooks import zoho_notification

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/background", health.readyz_background, name="readyz-background"),
    path("admin/", admin.site.urls),
    path("webhooks/twilio/", include("messaging.urls")),
    path("webhooks/zoho/leads/", include("automation.urls")),
    path("webhooks/zoho/notifications/", zoho_notification, name="zoho-notification"),
    path("crm/oauth/callback", crm_oauth_callback, name="crm-oauth-callback"),  # every CRM's connect and sign-in
    path("zoho/", include("crm.providers.zoho.urls")),  # Zoho's connect callback as registered by customers
    path("ops/sync/", include("sync.urls")),
    path("api/v1/", include("widget.api.urls")),
    path("app/", include("widget.urls")),
    path("auth/", include("identity.auth_urls")),
    path("accounts/", include("identity.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
