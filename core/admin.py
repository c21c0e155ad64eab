"""Admin building blocks that keep every page inside the signed-in manager's organization, and the operators'
user admin."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db import models
from django.http import HttpRequest

from core.admin_site import is_operator, request_manager
from core.models import User
from core.tenancy import TenantModel


class TenantScopedAdminMixin:
    """Shared by ModelAdmin and inlines: querysets, choices and permissions follow the request's tenant.

    - operators (superusers) see and edit everything;
    - a manager sees only their organization: lists, object pages, form choices and filters are scoped, and any
      other object is "not found" whatever URL is typed;
    - everyone else (staff, people without a membership) has no access.
    """

    # The FK to Organization on this model, filled in for managers and not changeable by them.
    tenant_field: str | None = "organization"

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        if issubclass(self.model, TenantModel):
            queryset = self.model.objects.all()
            if is_operator(request):
                queryset = queryset.unscoped()
            else:
                queryset = queryset.visible_to(request_manager(request))
        else:
            # A plain model that records its tenant in `tenant_field` (e.g. core.InboundEvent, whose organization
            # may be unknown): operators see every row, a manager their organization's, anyone else nothing.
            queryset = self.model._default_manager.all()
            if not is_operator(request):
                manager = request_manager(request)
                if manager is None or self.tenant_field is None:
                    queryset = queryset.none()
                else:
                    queryset = queryset.filter(**{f"{self.tenant_field}_id": manager.organization_id})
        # Explicit, because Meta.ordering is not applied to the annotated (GROUP BY) querysets of changelists.
        ordering = self.get_ordering(request) or self.model._meta.ordering
        return queryset.order_by(*ordering) if ordering else queryset

    def _may_manage(self, request: HttpRequest, obj: Any = None) -> bool:
        if is_operator(request):
            return True
        manager = request_manager(request)
        if manager is None:
            return False
        if obj is not None:
            return self.get_queryset(request).filter(pk=obj.pk).exists()
        return True

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request, obj)

    def formfield_for_foreignkey(self, db_field: models.ForeignKey, request: HttpRequest, **kwargs: Any):
        related = db_field.related_model
        if issubclass(related, TenantModel) and not is_operator(request):
            manager = request_manager(request)
            kwargs["queryset"] = related.objects.visible_to(manager)
            if db_field.name == self.tenant_field and manager is not None:
                kwargs["initial"] = manager.organization_id
                kwargs["disabled"] = True  # managers cannot move anything to another organization
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: models.ManyToManyField, request: HttpRequest, **kwargs: Any):
        related = db_field.related_model
        if issubclass(related, TenantModel) and not is_operator(request):
            kwargs["queryset"] = related.objects.visible_to(request_manager(request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class TenantModelAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    """Base for every admin page of a tenant-owned model."""

    def get_list_display(self, request: HttpRequest):
        columns = list(super().get_list_display(request))
        if not is_operator(request) and self.tenant_field in columns:
            columns.remove(self.tenant_field)  # a manager only ever sees one organization
        return columns

    def get_list_filter(self, request: HttpRequest):
        filters = list(super().get_list_filter(request))
        if not is_operator(request):
            filters = [
                f
                for f in filters
                if f != self.tenant_field and not (isinstance(f, tuple) and f[0] == self.tenant_field)
            ]
        return filters


class TenantTabularInline(TenantScopedAdminMixin, admin.TabularInline):
    tenant_field = None

    def _may_manage(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django hands an inline's permission checks the *parent* object (e.g. the Studio), not one of the
        # inline's rows: check the parent against its own model's scope, not its pk among this model's rows.
        if obj is None or is_operator(request):
            return super()._may_manage(request)
        manager = request_manager(request)
        return manager is not None and type(obj).objects.visible_to(manager).filter(pk=obj.pk).exists()


class OperatorUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class OperatorUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Operators only: people are added by managers through Members, which creates their user."""

    add_form = OperatorUserCreationForm
    form = OperatorUserChangeForm

    ordering = ["email"]
    list_display = ["email", "full_name", "is_active", "is_staff", "is_superuser", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Personal info", {"fields": ["full_name"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]
    readonly_fields = ["last_login", "date_joined"]


class ReadOnlyAdminMixin:
    """Records (logs, ledgers, raw events): viewed, never added, edited or deleted in the admin."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
