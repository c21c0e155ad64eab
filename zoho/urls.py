"""Zoho pages: the OAuth connect flow's callback (the Zoho issue)."""

app_name = "zoho"
urlpatterns: list = []
