"""Hypothesis against the pages outside the API that read a query string or a form: "Sign in with Zoho" (start,
callback, done), Zoho's OAuth callback, the e-mail sign-in form, the widget page, the sync dashboard and the probes,
anonymous and signed in. Whatever the query or form holds (NUL, any unicode, huge numbers), never a 5xx."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from django.test import Client

from tests.fuzz.support import FUZZ, TEXT, rolled_back

pytestmark = pytest.mark.django_db

PAGES = [
    "/auth/zoho/start",
    "/auth/zoho/callback",
    "/auth/zoho/done",
    "/auth/crm/zoho/start",
    "/auth/crm/zoho/done",
    "/crm/oauth/callback",
    "/zoho/oauth/callback/",
    "/accounts/login/",
    "/app/",
    "/ops/sync/",
    "/healthz",
]
NAMES = ["mode", "state", "code", "error", "accounts-server", "location", "next", "organization", "zoho", "key"]
ODD = ["\x00", "1", "99999999999999999999999", "-1", "\u00b2", "https://127.0.0.1/", "widget"]
VALUES = TEXT | st.sampled_from(ODD)
QUERY = st.dictionaries(st.sampled_from(NAMES) | TEXT, VALUES, max_size=4)
WHO = st.sampled_from(["anonymous", "manager", "operator"])


@pytest.fixture
def clients(tenant_a, operator) -> dict[str, Client]:
    signed_in = {"anonymous": Client()}
    for name, user in (("manager", tenant_a.manager.user), ("operator", operator)):
        signed_in[name] = Client()
        signed_in[name].force_login(user)
    return signed_in


@given(page=st.sampled_from(PAGES), query=QUERY, who=WHO)
@FUZZ
def test_no_page_answers_a_5xx_whatever_its_query(clients, page, query, who):
    def check():
        response = clients[who].get(f"{page}?{urlencode(query)}")
        assert response.status_code < 500, (page, query, who, response.content[:300])

    rolled_back(check)


@given(form=st.dictionaries(st.sampled_from(["username", "password", "next"]) | TEXT, VALUES, max_size=4))
@FUZZ
def test_the_sign_in_form_never_answers_a_5xx(clients, form):
    def check():
        response = clients["anonymous"].post("/accounts/login/", form)
        assert response.status_code < 500, (form, response.content[:300])

    rolled_back(check)
