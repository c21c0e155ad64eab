"""Worker *processes* (not threads: the twenty-worker case is in test_client.py) calling one org with refresh-token
rotation on: the lock and the cache are cross-process, so Salesforce sees one refresh, and the refresh token stored
is the live one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from django.conf import settings
from django.db import connection

from crm.providers.salesforce import tokens
from studios.models import ProviderAccount
from tests.crm.salesforce.test_client import refreshes, sf_account, sf_org, token_post
from tests.factories import OrganizationFactory
from tests.processes import PROJECT_DIR

WORKER = """
import sys, time
import django
django.setup()
from studios.models import ProviderAccount
from crm.providers.salesforce.client import SalesforceClient
from crm.providers.salesforce.tokens import access_token_peek
account = ProviderAccount.unscoped_objects.get(pk=int(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.01)
SalesforceClient(account).limits()
print(access_token_peek(account=account).token)
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_processes_with_rotation_refresh_once_and_keep_the_live_token(empty_sandbox):
    org = sf_org(empty_sandbox, rotation=True)
    account = sf_account(OrganizationFactory(slug="processes-sf"), org)
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{connection.settings_dict['NAME']}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    }
    start = time.time() + 6  # most are up and waiting by then; a late one finds the token cached
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(account.pk), str(start)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)  # each boots Django: more only costs time on a busy machine
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-500:] for _, err in outputs]
    assert len({out.strip().splitlines()[-1] for out, _ in outputs}) == 1
    assert refreshes(empty_sandbox, org) == 1
    stored = tokens.reveal(ProviderAccount.unscoped_objects.get(pk=account.pk).refresh_token)
    assert stored != org["refresh_token"]
    assert token_post(empty_sandbox, org, stored).status_code == 200
