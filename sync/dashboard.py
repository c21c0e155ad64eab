"""The operator dashboard `/ops/sync/`: the CRM mirror's health per object, drawn server-side as inline SVG.

Operators (superusers) see every organization and may filter to one; managers see their own organization. Anyone
else signed in gets 403; anonymous visitors go to the admin login. Apps built on the mirror add their own sections
(sync/dashboard_sections.py), read with the same scope: the two-way sync links.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from core.admin_site import is_operator, request_manager
from studios.models import Organization
from sync.dashboard_selectors import BAR_WIDTH, SPARK_HEIGHT, SPARK_WIDTH, sync_dashboard_get

# Nothing on this page needs a script; the admin's CSS is same-origin, and the SVG uses style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; frame-ancestors 'none'"
)


@require_GET
def sync_dashboard(request: HttpRequest) -> HttpResponse:
    """Parse the organization filter (operators only), read the dashboard, render it."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url="admin:login")  # an admin page
    operator = is_operator(request)
    manager = None if operator else request_manager(request)
    if not operator and manager is None:
        raise PermissionDenied
    organization = None
    if operator:
        chosen = request.GET.get("organization", "")
        if chosen.isdecimal():  # isdigit() also passes "²", which int() refuses
            organization = Organization.objects.unscoped().filter(pk=int(chosen)).first()  # operator: any org
    dashboard = sync_dashboard_get(manager=manager, organization=organization)
    context = {
        **admin.site.each_context(request),
        "title": "CRM sync",
        "dashboard": dashboard,
        "is_operator": operator,
        "selected_organization": organization,
        "spark_width": SPARK_WIDTH,
        "spark_height": SPARK_HEIGHT,
        "bar_width": BAR_WIDTH,
    }
    response = TemplateResponse(request, "ops/sync_dashboard.html", context)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
