"""identity/ signs people in through any CRM that declares SIGN_IN: a CRM made up here (no vendor code involved) goes
through the same start, the one OAuth callback and the last page as Zoho does."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from django.test import Client

from crm import registry
from crm.errors import CrmAuthError
from crm.oauth_state import Flow, state_claim, state_issue
from crm.provider import CrmProvider
from crm.records import Capability, Identity, SignIn
from identity.models import WidgetToken
from studios.services import member_crm_user_set
from tests.identity.conftest import page_data

pytestmark = pytest.mark.django_db

ORG_ID = "made-up-org-1"


class MadeUpCrm(CrmProvider):
    """Only what sign-in needs: consent URL, finish, the connection holding its org."""

    label = "Made-up CRM"
    capabilities = frozenset({Capability.SIGN_IN})
    connection: ClassVar[Any] = None  # the test's connection holding ORG_ID

    @classmethod
    def sign_in_url(cls, *, session: Any, mode: str = "page", redirect_uri: str | None = None) -> str:
        state = state_issue(session=session, kind=cls.kind, flow=Flow.SIGN_IN, mode=mode)
        return f"https://crm.example/consent?state={state}"

    @classmethod
    def sign_in_finish(cls, *, params: Any, session: Any) -> SignIn:
        issued = state_claim(state=params.get("state", ""), session=session)
        if params.get("error"):
            raise CrmAuthError("The made-up CRM said no.", code="crm_refused")
        identity = Identity(org_id=ORG_ID, org_name="Made-up", user_id=params["code"])
        return SignIn(identity=identity, mode=issued.data["mode"])

    @classmethod
    def connection_for_identity(cls, *, identity: Identity) -> Any:
        return cls.connection if identity.org_id == ORG_ID else None


@pytest.fixture
def made_up_crm(monkeypatch, tenant_a):
    monkeypatch.setattr(MadeUpCrm, "kind", "madeup")
    monkeypatch.setattr(MadeUpCrm, "connection", tenant_a.zoho)  # any ProviderAccount of the organization will do
    monkeypatch.setitem(registry._PROVIDERS, "madeup", MadeUpCrm)
    member_crm_user_set(membership=tenant_a.staff, connection=tenant_a.zoho, crm_user_id="u-7")
    return MadeUpCrm


def walk(client: Client, code: str, **extra: str):
    started = client.get("/auth/crm/madeup/start", {"mode": "widget"})
    assert started.status_code == 302
    assert started.url.startswith("https://crm.example/consent?")
    state = parse_qs(urlsplit(started.url).query)["state"][0]
    back = client.get("/crm/oauth/callback", {"state": state, "code": code, **extra})
    assert back.status_code == 302
    assert back.url == "/auth/crm/madeup/done"
    return client.get(back.url)


def test_a_member_signs_in_through_any_crm_that_can(made_up_crm, tenant_a):
    page = walk(Client(), "u-7")
    assert page.status_code == 200
    assert page_data(page)["outcome"] == "signed_in"
    assert WidgetToken.objects.unscoped().get().membership == tenant_a.staff


def test_an_unknown_user_of_that_crm_is_named_in_its_words(made_up_crm):
    page = walk(Client(), "u-8")
    assert page.status_code == 403
    body = page.content.decode()
    assert "Made-up CRM says you are" in body
    assert "u-8" in body
    assert "Zoho" not in body


def test_a_refusal_of_that_crm_is_shown(made_up_crm):
    page = walk(Client(), "u-7", error="access_denied")
    assert page_data(page)["reason"] == "crm_refused"
    assert not WidgetToken.objects.unscoped().exists()


def test_a_crm_without_sign_in_has_no_start(made_up_crm, monkeypatch):
    monkeypatch.setattr(MadeUpCrm, "capabilities", frozenset())
    assert Client().get("/auth/crm/madeup/start").status_code == 404
