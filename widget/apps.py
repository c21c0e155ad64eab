from django.apps import AppConfig


class WidgetConfig(AppConfig):
    """The conversation UI: its page at /app/ (template, static files) and its API at /api/v1/ (`widget/api/`).
    No models: installed so Django finds its template and static files."""

    name = "widget"
