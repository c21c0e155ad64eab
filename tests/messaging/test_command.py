"""manage.py messaging: status per organization, and the scheduler's jobs by hand."""

from __future__ import annotations

from io import StringIO

import pytest

from django.core.management import CommandError, call_command

from messaging.models import Message
from tests.messaging.factories import MessageFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("messaging", *args, stdout=out)
    return out.getvalue()


def test_status_counts_each_organizations_messages(tenant_a, tenant_b):
    MessageFactory(studio=tenant_a.studio, status=Message.Status.DELIVERED)
    MessageFactory(studio=tenant_a.studio, status=Message.Status.PENDING)
    MessageFactory(studio=tenant_b.studio, status=Message.Status.FAILED)
    out = run("status", "--org", "acme")
    assert "acme" in out
    assert "delivered" in out
    assert "pending 1" in out
    assert "bolt" not in out
    assert "failed" not in out


def test_status_of_an_unknown_organization_is_an_error(db):
    with pytest.raises(CommandError, match="No organization"):
        run("status", "--org", "nope")


def test_retry_enqueues_due_sends(tenant_a, monkeypatch):
    from messaging.services import sending

    queued = []
    monkeypatch.setattr(sending, "message_send_enqueue", lambda pk, countdown=None: queued.append(pk))
    from django.utils import timezone

    message = MessageFactory(studio=tenant_a.studio, status=Message.Status.PENDING, next_attempt_at=timezone.now())
    assert "1 text(s)" in run("retry")
    assert queued == [message.pk]
