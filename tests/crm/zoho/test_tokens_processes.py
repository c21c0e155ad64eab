"""Twenty worker *processes* (not threads) share one token: the lock and the cache are cross-process."""

import os
import subprocess
import sys
import time

import pytest

from django.conf import settings
from django.db import connection

from tests.crm.zoho.conftest import crm_account, minted
from tests.factories import OrganizationFactory
from tests.processes import PROJECT_DIR

WORKER = """
import os, sys, time
import django
django.setup()
from studios.models import ProviderAccount
from crm.providers.zoho.tokens import access_token_get
account = ProviderAccount.unscoped_objects.get(pk=int(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.01)
print(access_token_get(account=account))
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_twenty_processes_starting_together_refresh_once(sandbox):
    account = crm_account(OrganizationFactory(slug="processes"), sandbox)
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{connection.settings_dict['NAME']}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
    }
    start = time.time() + 8  # every process is up and waiting by then
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(account.pk), str(start)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    outputs = [worker.communicate(timeout=120) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-500:] for _, err in outputs]
    tokens = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(tokens) == 1
    assert minted(sandbox) == 1
