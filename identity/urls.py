"""The plain sign-in (e-mail and password), mounted at /accounts/."""

from django.urls import path

from identity import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
]
