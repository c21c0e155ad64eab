"""GET /app/: the page shell of the conversation UI. Everything else happens in widget/static/app/*.js
against the API.

The page holds no data, so anyone may load it; the script asks /api/v1/me/ and offers "Sign in" on a 401.
Opened with `?zoho=1` it is the Zoho CRM widget: Zoho's JS SDK is loaded from Zoho's CDN, and Zoho's CRM pages
may frame it. Otherwise no third-party origin appears anywhere in its policy and no one may frame it.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

ZOHO_SDK_URL = "https://live.zwidgets.com/js-sdk/1.2/ZohoEmbededAppSDK.min.js"  # api-facts A14
ZOHO_SDK_ORIGIN = "https://live.zwidgets.com"

# Zoho CRM's web origins in every data centre (api-facts A2), and Zoho's widget host, which may sit between
# the CRM page and an externally hosted widget: frame-ancestors checks every ancestor, not only the parent.
ZOHO_FRAME_ANCESTORS = (
    "https://*.zoho.com",
    "https://*.zoho.eu",
    "https://*.zoho.in",
    "https://*.zoho.com.au",
    "https://*.zoho.jp",
    "https://*.zoho.com.cn",
    "https://*.zohocloud.ca",
    "https://*.zoho.sa",
    "https://*.zoho.ae",
    "https://*.zoho.uk",
    "https://*.zappsusercontent.com",
)


def content_security_policy(*, embedded: bool) -> str:
    """No inline script or style anywhere; Zoho's SDK origin and Zoho as a framer only when embedded."""
    script_src = f"'self' {ZOHO_SDK_ORIGIN}" if embedded else "'self'"
    frame_ancestors = " ".join(ZOHO_FRAME_ANCESTORS) if embedded else "'none'"
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {script_src}",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


def is_embedded(request: HttpRequest) -> bool:
    return request.GET.get("zoho") == "1"


@require_safe
@ensure_csrf_cookie  # the script sends it back as X-CSRFToken on unsafe calls made with the session cookie
def widget_page(request: HttpRequest) -> HttpResponse:
    embedded = is_embedded(request)
    context = {"embedded": embedded, "zoho_sdk_url": ZOHO_SDK_URL if embedded else ""}
    response = TemplateResponse(request, "app/index.html", context)
    response["Content-Security-Policy"] = content_security_policy(embedded=embedded)
    if embedded:
        # X_FRAME_OPTIONS is DENY site-wide and knows no list of origins; CSP frame-ancestors says who may frame.
        response.xframe_options_exempt = True
    return response
