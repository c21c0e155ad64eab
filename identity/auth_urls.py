""" "Sign in with Zoho" and sign-out, mounted at /auth/."""

from django.urls import path

from identity import views

app_name = "signin"
urlpatterns = [
    path("zoho/start", views.zoho_start, name="zoho-start"),
    path("zoho/callback", views.zoho_callback, name="zoho-callback"),
    path("zoho/done", views.zoho_done, name="zoho-done"),
    path("sign-out", views.SignOutApi.as_view(), name="sign-out"),
]
