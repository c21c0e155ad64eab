"""GET /app/: the page shell of the conversation UI. Everything else happens in widget/static/app/*.js
against the API.

The page holds no data, so anyone may load it; the script asks /api/v1/me/ and offers "Sign in" on a 401.
Opened with `?crm=<kind>` it is that CRM's embedded widget (`?<kind>=1` too: the form of the first installed
widgets): the CRM's SDK for embedded apps is loaded from its origin, with the provider's glue
script (`CrmProvider.embed`), and the CRM's pages may frame it. Otherwise no third-party origin appears anywhere in
its policy and no one may frame it. Inside a CRM the sign-in button goes to that CRM's sign-in; outside, there is one
button per CRM that signs people in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from crm.provider import CrmProvider
from crm.records import Capability, Embed
from crm.registry import provider_class, registered


def content_security_policy(*, embed: Embed | None) -> str:
    """No inline script or style anywhere; the CRM's SDK origin and the CRM as a framer only when embedded."""
    sdk = urlsplit(embed.sdk_url) if embed and embed.sdk_url else None
    sdk_origin = f"{sdk.scheme}://{sdk.netloc}" if sdk else ""
    script_src = f"'self' {sdk_origin}" if sdk_origin else "'self'"
    frame_ancestors = " ".join(embed.frame_ancestors) if embed and embed.frame_ancestors else "'none'"
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


def embedding_crm(request: HttpRequest) -> type[CrmProvider] | None:
    """The CRM whose page frames this one, if it is a registered CRM with embedded apps."""
    kinds = registered()
    kind = request.GET.get("crm") or next((kind for kind in kinds if request.GET.get(kind) == "1"), "")
    if kind not in kinds:
        return None
    provider = provider_class(kind)
    return provider if provider.embed is not None else None


def sign_in_crms(embedding: type[CrmProvider] | None) -> list[type[CrmProvider]]:
    """Where the sign-in buttons go: inside a CRM, to its own sign-in only; else one per registered CRM that signs
    people in."""
    candidates = [embedding] if embedding is not None else [provider_class(kind) for kind in registered()]
    return [provider for provider in candidates if Capability.SIGN_IN in provider.capabilities]


@require_safe
@ensure_csrf_cookie  # the script sends it back as X-CSRFToken on unsafe calls made with the session cookie
def widget_page(request: HttpRequest) -> HttpResponse:
    embedding = embedding_crm(request)
    embed = embedding.embed if embedding else None
    sign_ins = [
        {
            "url": f"{reverse('signin:crm-start', args=[provider.kind])}?mode=widget",
            "label": provider.sign_in_label or provider.label,
        }
        for provider in sign_in_crms(embedding)
    ]
    context = {
        "embedded": embedding is not None,
        "crm": embedding.kind if embedding else "",
        "sdk_url": embed.sdk_url if embed else "",
        "embed_script": embed.script if embed else "",
        "sign_ins": sign_ins,
        "sign_in_url": sign_ins[0]["url"] if sign_ins else "",
    }
    response = TemplateResponse(request, "app/index.html", context)
    response["Content-Security-Policy"] = content_security_policy(embed=embed)
    if embedding is not None:
        # X_FRAME_OPTIONS is DENY site-wide and knows no list of origins; CSP frame-ancestors says who may frame.
        response.xframe_options_exempt = True
    return response
