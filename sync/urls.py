from django.urls import path

from sync.dashboard import sync_dashboard

app_name = "sync"

urlpatterns = [
    path("", sync_dashboard, name="dashboard"),
]
