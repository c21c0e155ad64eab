"""The SMS-provider registry: every module or package in messaging/providers/ declares itself, the stored values stay
as they are, and the parts a provider package brings (models, tasks) are loaded under their old names."""

from __future__ import annotations

from celery import current_app

from messaging.models import Message
from messaging.providers import registry


def test_every_provider_declares_a_stored_name_and_a_class_that_sends():
    assert registry.choices() == [("twilio", "Twilio"), ("zoho_voice", "Zoho Voice")]  # stored values: unchanged
    for name in registry.providers():
        cls = registry.provider_class(name)
        assert cls.name == name
        for method in ("send", "find_sent"):  # base.SmsProvider
            assert callable(getattr(cls, method, None))


def test_the_columns_that_store_a_provider_take_their_choices_from_the_registry():
    for field in ("provider", "failed_over_from"):
        assert list(Message._meta.get_field(field).choices) == registry.choices()


def test_only_providers_without_webhooks_have_a_poll_and_their_rows_wait_for_a_log_id():
    polled = [name for name in registry.providers() if registry.poll(name) is not None]
    assert polled == registry.log_polling_providers() == ["zoho_voice"]


def test_a_provider_packages_models_and_tasks_are_loaded_under_the_messaging_app_and_their_old_names():
    from django.apps import apps

    cursor = apps.get_model("messaging", "ZohoVoicePollCursor")
    assert (cursor.__module__, cursor._meta.db_table) == (
        "messaging.providers.zoho_voice.models",
        "messaging_zohovoicepollcursor",
    )
    import messaging.tasks  # noqa: F401  (what a worker imports)

    # Beat's stored schedule rows and messages already queued name them so.
    assert {"messaging.tasks.zoho_voice_poll_task", "messaging.tasks.zoho_voice_poll_all_task"} <= set(
        current_app.tasks
    )
