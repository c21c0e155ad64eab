"""The product's URLconf plus the baseline's one path (only under bench.settings_web)."""

from django.urls import path

from bench.webhook_baseline.views import baseline_webhook
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [path("bench/baseline/webhook/", baseline_webhook), *product_urlpatterns]
