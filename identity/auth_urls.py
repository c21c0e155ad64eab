"""Sign-in through a CRM and sign-out, mounted at /auth/ (the OAuth callback is /crm/oauth/callback, config/urls.py)."""

from django.urls import path

from identity import views

app_name = "signin"
urlpatterns = [
    path("crm/<str:kind>/start", views.crm_sign_in_start, name="crm-start"),
    path("crm/<str:kind>/done", views.crm_sign_in_done, name="crm-done"),
    path("sign-out", views.SignOutApi.as_view(), name="sign-out"),
    # The first sign-in URLs, /auth/<kind>/...: the callback is registered as a redirect URI at CRMs' API consoles
    # and the start is in installed widgets, so they answer as the ones above.
    path("<str:kind>/start", views.crm_sign_in_start, name="first-start"),
    path("<str:kind>/callback", views.crm_oauth_callback, name="first-callback"),
    path("<str:kind>/done", views.crm_sign_in_done, name="first-done"),
]
