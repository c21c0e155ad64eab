"""Admin building blocks that keep every page inside the signed-in manager's organization, and the operators'
user admin."""

from functools import cache
from typing import Any

from django.contrib import admin
from django.contrib.admin.filters import (
    AllValuesFieldListFilter,
    BooleanFieldListFilter,
    ChoicesFieldListFilter,
    DateFieldListFilter,
    EmptyFieldListFilter,
    FieldListFilter,
    ListFilter,
    RelatedFieldListFilter,
    RelatedOnlyFieldListFilter,
)
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.core import checks
from django.db import models
from django.http import HttpRequest

from core.admin_site import is_operator, request_manager
from core.models import User
from core.tenancy import TenantModel


# --- List filters, scoped by construction -----------------------------------------------------------------------
# Django builds a relation filter's choices from the related model's default manager: every tenant's rows (a
# lead-intake page offered every organization's studios). Every tenant admin page's `list_filter` is rewritten
# for managers (TenantScopedAdminMixin.get_list_filter) into the classes below, whatever the page declares.
def own_rows_values(request: HttpRequest, model_admin: Any, field_path: str) -> models.QuerySet:
    """The values of `field_path` on the rows this page shows the request's person (its scoped queryset)."""
    return model_admin.get_queryset(request).order_by().values(field_path)


def tenant_related_rows(request: HttpRequest, model_admin: Any, related: type[models.Model], field_path: str):
    """The rows of `related` a filter over `field_path` may offer the request's manager: a tenant model's rows
    visible to them; any other model's (e.g. users) only those their own rows point at."""
    if issubclass(related, TenantModel):
        return related.objects.visible_to(request_manager(request))
    return related._default_manager.filter(pk__in=own_rows_values(request, model_admin, f"{field_path}__pk"))


def scope_all_values_filter(spec: AllValuesFieldListFilter, request: HttpRequest, model_admin: Any) -> None:
    """Django reads a value filter's choices across a relation (`studio__time_zone`) from every tenant's rows:
    a manager gets the values of the page's own rows. The replaced choices are a lazy queryset, never run."""
    if not is_operator(request):
        spec.lookup_choices = (
            model_admin.get_queryset(request)
            .distinct()
            .order_by(spec.field_path)
            .values_list(spec.field_path, flat=True)
        )


class TenantScopedRelatedFilterMixin:
    """For a RelatedFieldListFilter (or a subclass): a manager is offered their organization's rows only."""

    related_only = False  # RelatedOnlyFieldListFilter: also only rows this page's own rows point at

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any):
        if is_operator(request):
            return super().field_choices(field, request, model_admin)
        related = field.related_model
        allowed = tenant_related_rows(request, model_admin, related, self.field_path)
        if self.related_only:
            allowed = allowed.filter(pk__in=own_rows_values(request, model_admin, f"{self.field_path}__pk"))
        limit = models.Q(pk__in=allowed.order_by().values("pk"))
        # A forward field's own limit still applies (a reverse relation's limit is about the other side).
        own_limit = field.get_limit_choices_to() if isinstance(field, models.Field) else None
        if own_limit:
            limit &= own_limit if isinstance(own_limit, models.Q) else models.Q(**own_limit)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=limit, ordering=ordering)


class TenantScopedAllValuesFilterMixin:
    """For an AllValuesFieldListFilter: a manager is offered the values of the page's own rows."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        scope_all_values_filter(self, request, model_admin)


# Filters whose choices are fixed (yes/no, a field's choices, dates, empty/not empty): nothing of a tenant in them.
STATIC_FIELD_FILTERS = (BooleanFieldListFilter, ChoicesFieldListFilter, DateFieldListFilter, EmptyFieldListFilter)


@cache
def tenant_scoped_filter_class(filter_class: type[ListFilter]) -> type[ListFilter] | None:
    """The class to use for managers instead of `filter_class`; None when its choices cannot be vouched for.

    A custom SimpleListFilter (or FieldListFilter) lists whatever its code reads: it declares `tenant_scoped =
    True` once its choices come from `visible_to` / `for_organization` (see TenantRowsListFilter)."""
    if getattr(filter_class, "tenant_scoped", False):
        return filter_class
    if issubclass(filter_class, RelatedFieldListFilter):
        attrs = {"related_only": issubclass(filter_class, RelatedOnlyFieldListFilter), "tenant_scoped": True}
        return type(f"TenantScoped{filter_class.__name__}", (TenantScopedRelatedFilterMixin, filter_class), attrs)
    if issubclass(filter_class, AllValuesFieldListFilter):
        attrs = {"tenant_scoped": True}
        return type(f"TenantScoped{filter_class.__name__}", (TenantScopedAllValuesFilterMixin, filter_class), attrs)
    if issubclass(filter_class, STATIC_FIELD_FILTERS):
        return filter_class
    return None


def tenant_scoped_field_filter(field, request, params, model, model_admin, field_path):
    """What a plain field name in `list_filter` becomes: Django's filter for the field's type, scoped."""
    if field.is_relation:
        scoped_class = tenant_scoped_filter_class(RelatedFieldListFilter)
        return scoped_class(field, request, params, model, model_admin, field_path)
    # Django's filter for the field's type; of those only the value filter reads rows.
    spec = FieldListFilter.create(field, request, params, model, model_admin, field_path)
    if isinstance(spec, AllValuesFieldListFilter):
        scope_all_values_filter(spec, request, model_admin)
    return spec


class TenantRowsListFilter(admin.SimpleListFilter):
    """Base of a custom filter over a tenant model's rows: choices from `visible_to` (every row for operators)."""

    tenant_scoped = True
    related_model: type[TenantModel]

    def rows(self, request: HttpRequest) -> models.QuerySet:
        if is_operator(request):
            return self.related_model.objects.unscoped()
        return self.related_model.objects.visible_to(request_manager(request))

    def label(self, request: HttpRequest, obj: models.Model) -> str:
        return str(obj)

    def lookups(self, request: HttpRequest, model_admin: Any):
        return [(str(obj.pk), self.label(request, obj)) for obj in self.rows(request)]


class TenantScopedAdminMixin:
    """Shared by ModelAdmin and inlines: querysets, choices and permissions follow the request's tenant.

    - operators (superusers) see and edit everything;
    - a manager sees only their organization: lists, object pages, form choices and filters are scoped, and any
      other object is "not found" whatever URL is typed;
    - everyone else (staff, people without a membership) has no access.

    List filters are scoped whatever a page declares (`get_list_filter`): relation filters offer the manager's
    own rows, values across a relation come from the page's own rows, and a custom filter that is not declared
    `tenant_scoped` is left out for managers (and reported by `manage.py check`).
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

    def get_list_filter(self, request: HttpRequest):
        filters = list(super().get_list_filter(request))
        if is_operator(request):
            return filters
        scoped = []
        for entry in filters:
            entry = self._tenant_scoped_list_filter(entry)
            if entry is not None:
                scoped.append(entry)
        return scoped

    def _tenant_scoped_list_filter(self, entry: Any) -> Any:
        """A `list_filter` entry as a manager gets it: scoped, or None (left out)."""
        if isinstance(entry, type) and issubclass(entry, ListFilter):  # a custom filter class
            return entry if tenant_scoped_filter_class(entry) is entry else None
        if isinstance(entry, (list, tuple)):
            path, filter_class = entry
        else:
            path, filter_class = entry, None
        path = path if isinstance(path, str) else path.name  # Django also accepts a Field
        if self.tenant_field and (path == self.tenant_field or path.startswith(f"{self.tenant_field}__")):
            return None  # a manager only ever sees one organization
        if filter_class is None:
            return (path, tenant_scoped_field_filter)
        scoped_class = tenant_scoped_filter_class(filter_class)
        return (path, scoped_class) if scoped_class is not None else None

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = list(super().check(**kwargs))
        for entry in getattr(self, "list_filter", ()):
            filter_class = entry[1] if isinstance(entry, (list, tuple)) else entry
            if isinstance(filter_class, type) and tenant_scoped_filter_class(filter_class) is None:
                errors.append(
                    checks.Error(
                        f"list_filter {filter_class.__name__} of {type(self).__name__} may list another "
                        "organization's rows, so managers do not get it.",
                        hint="Derive it from core.admin.TenantRowsListFilter, or set tenant_scoped = True once its "
                        "choices come from visible_to() / for_organization().",
                        obj=type(self),
                        id="leadline.E001",
                    )
                )
        return errors

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
