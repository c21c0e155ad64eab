from django.urls import path

from widget.views import widget_page

app_name = "widget"
urlpatterns = [
    path("", widget_page, name="index"),
]
