"""Tenancy, enforced in one place.

Every tenant-owned model's `objects` manager returns a `TenantQuerySet`, which refuses to run until it has
been scoped: `.for_organization(org)`, `.visible_to(member)`, or the deliberately loud `.unscoped()` (operators,
migrations, webhooks that resolve the tenant themselves). A forgotten scope is an exception in tests, never a
silent leak in production: the failure mode is closed.

Django's own machinery (unique validation, related managers, deletion) uses `_default_manager`, which each
model points at a plain `unscoped_objects` manager, because those paths are already bounded by a row they hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from django.apps import apps
from django.conf import settings
from django.db import models

if TYPE_CHECKING:
    from studios.models import Membership, Organization


def membership_model() -> type[Membership]:
    """The model of a person in an organization (`TENANT_MEMBERSHIP_MODEL`, "app_label.Model"), found by name the
    way Django's get_user_model() finds the user: core is the bottom layer and imports no app above it."""
    return apps.get_model(getattr(settings, "TENANT_MEMBERSHIP_MODEL", "studios.Membership"), require_ready=False)


class UnscopedQueryError(RuntimeError):
    """A tenant-owned queryset was evaluated without a tenant scope."""


class TenantQuerySet(models.QuerySet):
    """A queryset that must be scoped to an organization (and, for staff, their studios) before it runs."""

    # How a model reaches its organization, e.g. "organization" or "studio__organization".
    organization_path = "organization"
    _tenant_scoped = False

    def _clone(self) -> Self:
        clone = super()._clone()
        clone._tenant_scoped = self._tenant_scoped
        return clone

    def _mark_scoped(self) -> Self:
        clone = self._chain()
        clone._tenant_scoped = True
        return clone

    def _require_scope(self) -> None:
        if not self._tenant_scoped:
            raise UnscopedQueryError(
                f"{self.model.__name__} queryset evaluated without a tenant scope: call .for_organization(org), "
                ".visible_to(member) or, for operator code that must see every tenant, .unscoped()"
            )

    # --- scopes -----------------------------------------------------------------------------------------------
    def for_organization(self, organization: Organization | None) -> Self:
        if organization is None or organization.pk is None:
            return self.none()._mark_scoped()
        return self.filter(**{self.organization_path: organization.pk})._mark_scoped()

    def visible_to(self, member: Membership | None) -> Self:
        """What a member may see: managers see their organization, staff what `staff_filter` allows."""
        if member is None or member.pk is None or not member.is_active or not member.user.is_active:
            return self.none()._mark_scoped()
        scoped = self.for_organization(member.organization)
        if member.is_manager:
            return scoped
        return self.staff_filter(scoped, member)._mark_scoped()

    def staff_filter(self, queryset: Self, member: Membership) -> Self:
        """Narrow an organization-scoped queryset to what a staff member may see. Default: nothing."""
        return queryset.none()

    def unscoped(self) -> Self:
        """Every tenant's rows. For operators and code that has already established the tenant itself."""
        return self._mark_scoped()

    # --- every way a queryset reaches the database goes through a check --------------------------------------
    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def iterator(self, *args: Any, **kwargs: Any):
        self._require_scope()
        return super().iterator(*args, **kwargs)

    def count(self) -> int:
        self._require_scope()
        return super().count()

    def exists(self) -> bool:
        self._require_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._require_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._require_scope()
        return super().delete()

    def contains(self, obj: models.Model) -> bool:
        self._require_scope()
        return super().contains(obj)

    def explain(self, *args: Any, **kwargs: Any) -> str:
        self._require_scope()
        return super().explain(*args, **kwargs)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """`Model.objects` for tenant-owned models."""


class TenantModel(models.Model):
    """Base for tenant-owned models: `objects` must be scoped; Django internals use `unscoped_objects`."""

    unscoped_objects = models.Manager()
    objects = TenantManager()

    class Meta:
        abstract = True
        default_manager_name = "unscoped_objects"
        base_manager_name = "unscoped_objects"
