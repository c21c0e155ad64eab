"""The admin site: operators (superusers) see every tenant; customer managers see their own organization."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from core.tenancy import membership_model


def request_membership(request: HttpRequest):
    """The signed-in person's active membership, looked up once per request; None for anyone without one."""
    if not hasattr(request, "_leadline_membership"):
        membership = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            from core.models import User

            Membership = membership_model()
            if User.membership.is_cached(user):
                # Loaded with the user in the same query (accounts.backends.MemberBackend, session sign-ins).
                membership = getattr(user, "membership", None)
                if membership is not None and not (membership.is_active and membership.organization.is_active):
                    membership = None
            else:
                membership = (
                    Membership.objects.unscoped()  # the tenant is being established here, from the authenticated user
                    .select_related("organization", "user")
                    .filter(user=user, is_active=True, organization__is_active=True)
                    .first()
                )
        request._leadline_membership = membership
    return request._leadline_membership


def request_manager(request: HttpRequest):
    """The membership if the signed-in person is an active manager, else None."""
    membership = request_membership(request)
    return membership if membership is not None and membership.is_manager else None


def is_operator(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_superuser)


class LeadlineAdminAuthenticationForm(AdminAuthenticationForm):
    """Django's admin login admits `is_staff` users only; managers come in through their membership."""

    def confirm_login_allowed(self, user) -> None:
        AuthenticationForm.confirm_login_allowed(self, user)  # refuses inactive users
        if user.is_staff or user.is_superuser:
            return
        Membership = membership_model()
        is_manager = (
            Membership.objects.unscoped()  # the tenant is being established here, from the authenticating user
            .filter(user=user, is_active=True, organization__is_active=True, role=Membership.Role.MANAGER)
            .exists()
        )
        if not is_manager:
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class LeadlineAdminSite(admin.AdminSite):
    login_form = LeadlineAdminAuthenticationForm
    site_header = "Leadline"
    site_title = "Leadline admin"
    index_title = "Studios, numbers, people and provider accounts"

    def has_permission(self, request: HttpRequest) -> bool:
        """Operators by Django's rules; managers by their membership. Staff have no admin access."""
        user = request.user
        if not user.is_active:
            return False
        return bool(user.is_staff or user.is_superuser or request_manager(request) is not None)
