"""A small Zoho CRM client for the sandbox suites: a token from the demo refresh token, calls under /crm/v8,
the control API, and the shapes the suites check (Zoho's datetime and id formats)."""

import re

import pytest
import requests

from sandbox import worlds

ZOHO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
ZOHO_ID = re.compile(r"^\d{19}$")
ORG_ID = worlds.DEMO_ZOHO_ORG_ID
RECORDS = "zoho-crm-v8/record.json"
MODULE_PATH = "/crm/v8/{module_api_name}"


def access_token(url, refresh_token=worlds.DEMO_CRM_REFRESH_TOKEN, client_id=None, client_secret=None):
    body = requests.post(
        f"{url}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": client_id or worlds.DEMO_CLIENT_ID,
            "client_secret": client_secret or worlds.DEMO_CLIENT_SECRET,
            "refresh_token": refresh_token,
        },
        timeout=5,
    ).json()
    return body["access_token"]


class Crm:
    def __init__(self, url, token=None):
        self.url = url
        self.token = token or access_token(url)

    def call(self, method, path, **kwargs):
        headers = {"Authorization": f"Zoho-oauthtoken {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/crm/v8{path}", headers=headers, timeout=30, **kwargs)

    def get(self, path, **params):
        return self.call("GET", path, params=params)

    def post(self, path, body):
        return self.call("POST", path, json=body)

    def put(self, path, body):
        return self.call("PUT", path, json=body)


def control(url, method, path, **kwargs):
    return requests.request(method, f"{url}/_sandbox{path}", timeout=120, **kwargs)


def org(sandbox):
    return sandbox.state.crm.orgs[ORG_ID]


def error_of(response):
    body = response.json()
    return body["code"], body["details"]


@pytest.fixture
def crm(sandbox):
    return Crm(sandbox.url)
