"""Deployment checks of the sync alerts' channels (`manage.py check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.compatibility, deploy=True)
def alert_mail_transport_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Alert e-mail configured without a mail transport goes to localhost:25, which few hosts run."""
    smtp = settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
    if settings.SYNC_ALERT_EMAILS and smtp and settings.EMAIL_HOST in ("localhost", "127.0.0.1"):
        return [
            Warning(
                "SYNC_ALERT_EMAILS is set but mail goes to an SMTP server on this host (no EMAIL_URL).",
                hint="Set EMAIL_URL (e.g. smtp+tls://USER:PASSWORD@smtp.example.com:587) and DEFAULT_FROM_EMAIL.",
                id="sync.W001",
            )
        ]
    return []
