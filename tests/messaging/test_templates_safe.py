"""Message templates are a tiny language of plain merge fields (core.merge_fields): format specs, conversions,
attribute and index access are refused when saved (model, admin, tenants file) and again when rendered; a field
may carry a fallback; a required field that is blank is reported, never sent as "Hi , ...". The widget API
returns the rendered text with the missing fields, and refuses a send until they are filled in."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from django.core.exceptions import ValidationError
from django.test import Client

from automation.models import DEFAULT_FOLLOW_UP_MESSAGE, StudioAutomation
from messaging.models import Message
from messaging.services.receiving import START_CONFIRMATION, STOP_CONFIRMATION
from studios.models import DEFAULT_HELP_MESSAGE, DEFAULT_WELCOME_MESSAGE, TEMPLATE_FIELDS, Studio, validate_template
from tests.messaging.factories import ContactFactory, ConversationFactory

ENQUEUE = "messaging.services.sending.message_send_enqueue"

DANGEROUS = [
    ("{first_name:>50000000}", "format specs"),
    ("Hi {first_name:{last_name}}!", "not closed"),
    ("{first_name!r}", "conversions"),
    ("{first_name!s:>9}", "are not supported"),
    ("{first_name.__class__}", "attribute and index access"),
    ("{first_name.__class__.__mro__}", "attribute and index access"),
    ("{first_name[0]}", "attribute and index access"),
    ("{}", "needs a name"),
    ("{0}", "lower-case letters"),
    ("Hi {first_name", "not closed"),
    ("Hi first_name}", "closes nothing"),
    ("{ first_name }", "remove the spaces"),
    ("{coupon}", "Unknown merge field(s) {coupon}"),
    ("{first_name|" + "x" * 61 + "}", "at most 60 characters"),
    ("x" * 1601, "at most 1600 characters"),
]


@pytest.mark.parametrize(("template", "why"), DANGEROUS)
def test_format_specs_conversions_and_access_are_refused_when_saved(template, why):
    with pytest.raises(ValidationError) as caught:
        validate_template(template)
    assert why in caught.value.messages[0]


def test_the_huge_format_spec_is_refused_by_the_model_before_anything_renders(db):
    from tests.factories import StudioFactory

    studio = StudioFactory()
    studio.welcome_message = "Hi {first_name:>50000000}"
    with pytest.raises(ValidationError) as caught:
        studio.full_clean()
    assert "welcome_message" in caught.value.message_dict
    automation = StudioAutomation(studio=studio, follow_up_message="Great, {first_name:{last_name}}!")
    with pytest.raises(ValidationError) as caught:
        automation.full_clean()
    assert "follow_up_message" in caught.value.message_dict


@pytest.mark.parametrize(
    "template",
    [DEFAULT_WELCOME_MESSAGE, DEFAULT_HELP_MESSAGE, DEFAULT_FOLLOW_UP_MESSAGE, STOP_CONFIRMATION, START_CONFIRMATION],
)
def test_every_shipped_template_stays_valid(template):
    validate_template(template)


def test_the_demo_document_and_its_studios_templates_stay_valid():
    from tenants.demo import demo_document
    from tenants.schema import parse_document

    document = parse_document(demo_document(sandbox_url="http://127.0.0.1:8001"))
    for organization in document.organizations:
        for studio in organization.studios:
            validate_template(studio.welcome_message or DEFAULT_WELCOME_MESSAGE)
            validate_template(studio.help_message or DEFAULT_HELP_MESSAGE)


def test_a_fallback_fills_a_blank_field_and_escapes_stay_literal():
    from core import merge_fields

    template = "Hi {first_name|there}, {{braces}} stay. {studio_name} {last_name|}"
    rendered = merge_fields.render(template, {"first_name": "  ", "studio_name": "Downtown"}, allowed=TEMPLATE_FIELDS)
    assert rendered.text == "Hi there, {braces} stay. Downtown"
    assert rendered.missing == ()
    rendered = merge_fields.render(template, {"first_name": "Dana", "studio_name": "Downtown"}, allowed=TEMPLATE_FIELDS)
    assert rendered.text.startswith("Hi Dana, {braces} stay.")


def test_a_required_blank_field_is_reported_and_stays_visible_in_the_text():
    from core import merge_fields

    rendered = merge_fields.render(
        "Hi {first_name}, thanks for your interest in {studio_name}!",
        {"studio_name": "Downtown"},
        allowed=TEMPLATE_FIELDS,
    )
    assert rendered.missing == ("first_name",)
    assert rendered.reason == "{first_name} is blank and has no fallback"
    assert rendered.text == "Hi {first_name}, thanks for your interest in Downtown!"


def test_crm_data_is_never_read_as_template_syntax():
    from core import merge_fields

    rendered = merge_fields.render(
        "Hi {first_name}", {"first_name": "{last_name:>99999999}!r"}, allowed=TEMPLATE_FIELDS
    )
    assert rendered.text == "Hi {last_name:>99999999}!r"


def test_rendering_refuses_what_bypassed_validation_and_bounds_the_output():
    from core import merge_fields

    with pytest.raises(merge_fields.TemplateError):
        merge_fields.render("{first_name:>50000000}", {"first_name": "x"}, allowed=TEMPLATE_FIELDS)
    with pytest.raises(merge_fields.TemplateError):
        merge_fields.render("{first_name}" * 5, {"first_name": "x" * 5000}, allowed=TEMPLATE_FIELDS)


def test_the_tenants_file_refuses_a_conversion_naming_the_entry():
    from tenants.schema import TenantsFileError, parse_document

    document = {
        "organizations": [
            {"slug": "acme", "name": "Acme", "studios": [{"slug": "east", "name": "East", "help_message": "{x!r}"}]}
        ]
    }
    with pytest.raises(TenantsFileError) as caught:
        parse_document(document)
    assert caught.value.errors == [
        "organizations[0] (acme) > studios[0] (east) > help_message: {x!r}: conversions ('!r', '!s') are not "
        "supported. Use a plain field such as {first_name} or {first_name|there}."
    ]


# --- the widget API ---------------------------------------------------------------------------------------------
def signed_in(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def post(client: Client, url: str, data: dict):
    return client.post(url, data, content_type="application/json")


@pytest.fixture
def unnamed_thread(tenant_a):
    contact = ContactFactory(organization=tenant_a.organization, name="", phone="+16175550199")
    return ConversationFactory(studio=tenant_a.studio, contact=contact)


@pytest.mark.django_db
def test_the_render_api_returns_the_text_and_the_missing_fields(tenant_a, unnamed_thread):
    client = signed_in(tenant_a.staff)
    body = {"template": "welcome", "conversation_id": unnamed_thread.pk}
    response = post(client, "/api/v1/templates/render/", body)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["missing_fields"] == ["first_name"]
    assert data["text"].startswith("Hi {first_name}, thanks for your interest in")
    assert data["studio_id"] == tenant_a.studio.pk

    response = post(client, "/api/v1/templates/render/", {**body, "merge_fields": {"first_name": "Dana"}})
    assert response.json()["missing_fields"] == []
    assert response.json()["text"].startswith("Hi Dana, thanks for your interest in")


@pytest.mark.django_db
def test_sending_a_template_with_a_blank_required_field_is_refused_and_names_it(tenant_a, unnamed_thread):
    client = signed_in(tenant_a.staff)
    url = f"/api/v1/conversations/{unnamed_thread.pk}/messages/"
    with mock.patch(ENQUEUE) as enqueue:
        response = post(client, url, {"template": "welcome"})
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["extra"]["code"] == "missing_fields"
    assert data["extra"]["missing_fields"] == ["first_name"]
    assert "first name" in data["message"]
    enqueue.assert_not_called()
    assert not Message.objects.unscoped().filter(direction="outbound").exists()

    with mock.patch(ENQUEUE):
        response = post(client, url, {"template": "welcome", "merge_fields": {"first_name": "Dana"}})
    assert response.status_code == 201, response.content
    assert response.json()["body"].startswith("Hi Dana, thanks for your interest in")


@pytest.mark.django_db
def test_a_template_that_bypassed_validation_is_refused_not_rendered(tenant_a, unnamed_thread):
    Studio.objects.for_organization(tenant_a.organization).filter(pk=tenant_a.studio.pk).update(
        welcome_message="Hi {first_name:>50000000}"
    )
    client = signed_in(tenant_a.staff)
    started = time.monotonic()
    response = post(client, "/api/v1/templates/render/", {"template": "welcome", "conversation_id": unnamed_thread.pk})
    assert response.status_code == 400
    assert response.json()["extra"]["code"] == "invalid"
    with mock.patch(ENQUEUE):
        response = post(
            client,
            f"/api/v1/conversations/{unnamed_thread.pk}/messages/",
            {"template": "welcome", "merge_fields": {"first_name": "Dana"}},
        )
    assert response.status_code == 400
    assert time.monotonic() - started < 5
    assert not Message.objects.unscoped().filter(direction="outbound").exists()


@pytest.mark.django_db
def test_the_render_api_sees_only_the_callers_threads_and_studios(tenant_a, tenant_b, unnamed_thread):
    client = signed_in(tenant_b.manager)
    response = post(client, "/api/v1/templates/render/", {"template": "welcome", "conversation_id": unnamed_thread.pk})
    assert response.status_code == 404
    response = post(client, "/api/v1/templates/render/", {"template": "welcome", "studio_id": tenant_a.studio.pk})
    assert response.status_code == 404
    # Staff of one studio cannot render for the other studio of their own organization either.
    response = post(
        signed_in(tenant_a.staff),
        "/api/v1/templates/render/",
        {"template": "welcome", "studio_id": tenant_a.other_studio.pk},
    )
    assert response.status_code == 404


# --- the admin preview --------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_studio_admin_previews_each_template_and_what_a_nameless_lead_would_miss(tenant_a):
    client = signed_in(tenant_a.manager)
    response = client.get(f"/admin/studios/studio/{tenant_a.studio.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Hi Dana, thanks for your interest in {tenant_a.studio.name}!" in page
    assert "No name: not sent: {first_name} is blank and has no fallback" in page
    assert "{first_name|there}" in page  # the help text explains fallbacks
