"""Zoho Voice's tasks: the SMS-log poll of each number (it sends no webhooks). messaging/tasks.py imports this module
through the provider registry, so workers register the tasks under their old names."""

from __future__ import annotations

import uuid

from celery import shared_task

from django.conf import settings
from django.core.cache import cache

from messaging.providers import ProviderError
from messaging.providers.zoho_voice import PROVIDER_NAME

# A poll holds this cache lock (an atomic add with a TTL, so a killed worker frees it) and a second poller of the
# same number skips; the unique log-id constraint keeps the data right even if two ever overlap.
ZOHO_VOICE_POLL_LOCK = "messaging:zoho-voice-poll:{phone_number_id}"


# Named as when it lived in messaging/tasks.py: beat's stored schedule and queued messages name it.
@shared_task(name="messaging.tasks.zoho_voice_poll_task")
def zoho_voice_poll_task(phone_number_id: int) -> dict:
    """Poll one Zoho Voice number's SMS logs, unless another poll of it is running."""
    from messaging.providers.zoho_voice.poll import zoho_voice_poll
    from studios.models import PhoneNumber

    number = (
        PhoneNumber.objects.unscoped()
        .select_related("organization", "studio", "account")
        .filter(pk=phone_number_id, provider=PROVIDER_NAME, is_active=True)
        .first()
    )
    if number is None:
        return {"phone_number_id": phone_number_id, "skipped": "no active Zoho Voice number"}
    key, owner = ZOHO_VOICE_POLL_LOCK.format(phone_number_id=phone_number_id), uuid.uuid4().hex
    if not cache.add(key, owner, timeout=settings.CELERY_TASK_TIME_LIMIT + 60):
        return {"phone_number_id": phone_number_id, "skipped": "another poll is running"}
    try:
        return zoho_voice_poll(phone_number=number).as_dict()
    except ProviderError as exc:
        # Recorded on the cursor; the next scheduled poll is the retry (a retry now would only overlap it).
        return {"phone_number_id": phone_number_id, "error": str(exc)}
    finally:
        if cache.get(key) == owner:
            cache.delete(key)


@shared_task(name="messaging.tasks.zoho_voice_poll_all_task")
def zoho_voice_poll_all_task() -> int:
    """Every ZOHO_VOICE_POLL_SECONDS: one poll task per active Zoho Voice number of an active organization."""
    from studios.models import PhoneNumber

    ids = list(
        PhoneNumber.objects.unscoped()
        .filter(provider=PROVIDER_NAME, is_active=True, organization__is_active=True)
        .values_list("pk", flat=True)
    )
    for phone_number_id in ids:
        zoho_voice_poll_task.delay(phone_number_id)
    return len(ids)
