"""The vendor's own Python client, simple-salesforce, unmodified, against the Salesforce emulator: login by token
(session id + instance URL), query_all across batches, an upsert by external id, a Bulk API 2.0 query.

simple-salesforce always calls https://<instance>, so this test serves the sandbox over TLS with a self-signed
certificate made here, and hands the client a requests.Session that trusts it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce
from werkzeug.serving import make_server

from sandbox.app import create_app
from sandbox.server import QuietRequestHandler


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sandbox.crt", directory / "sandbox.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsSandbox:
    def __init__(self, directory: Path) -> None:
        self.cert, key = _self_signed(directory)
        self.app = create_app(world="empty", sf_bulk_seconds_per_state=0.0)
        self.server = make_server(
            "127.0.0.1",
            0,
            self.app,
            threaded=True,
            request_handler=QuietRequestHandler,
            ssl_context=(str(self.cert), str(key)),
        )
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def state(self):
        return self.app.state


@pytest.fixture
def tls_sandbox(tmp_path: Path) -> Iterator[TlsSandbox]:
    running = TlsSandbox(tmp_path)
    running.thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()
        running.app.state.sender.stop()
        running.thread.join(timeout=5)


def test_simple_salesforce_drives_the_emulator(tls_sandbox: TlsSandbox) -> None:
    state = tls_sandbox.state
    org = state.salesforce.create_org(
        name="Client Test Co", users=[{"first_name": "Ada", "last_name": "Admin", "email": "ada@client.test"}]
    )
    user_id = org.admin_user_id
    grant = state.salesforce.new_grant(org, user_id, ("api", "refresh_token"))
    token = state.salesforce.new_session(org, user_id, grant=grant, scopes=grant.scopes).token
    store = org.stores["Lead"]
    for number in range(2300):
        store.insert({"LastName": f"Client{number:04d}", "Company": "Acme", "Status": "Open"}, notify=False)

    session = requests.Session()
    session.verify = str(tls_sandbox.cert)
    session.trust_env = False  # a CA bundle named in the environment would replace `verify`
    sf = Salesforce(session_id=token, instance_url=tls_sandbox.url, version="66.0", session=session)

    everything = sf.query_all("SELECT Id, LastName FROM Lead WHERE Company = 'Acme' ORDER BY LastName")
    assert everything["totalSize"] == 2300
    assert everything["records"][0]["LastName"] == "Client0000"
    assert everything["records"][-1]["LastName"] == "Client2299"
    assert len({record["Id"] for record in everything["records"]}) == 2300

    created = sf.Lead.upsert("Leadline_Id__c/LL-1", {"LastName": "Upserted", "Company": "Beta"})
    assert created == 201
    updated = sf.Lead.upsert("Leadline_Id__c/LL-1", {"Title": "Owner"})
    assert updated in (200, 204)
    found = sf.query("SELECT Id, LastName, Title FROM Lead WHERE Leadline_Id__c = 'LL-1'")
    assert found["totalSize"] == 1
    assert (found["records"][0]["LastName"], found["records"][0]["Title"]) == ("Upserted", "Owner")

    pages = list(sf.bulk2.Lead.query("SELECT Id, LastName FROM Lead ORDER BY LastName", max_records=1000, wait=0.1))
    rows = [row for page in pages for row in list(csv.reader(io.StringIO(page)))[1:]]
    assert len(pages) == 3
    assert len(rows) == 2301
    assert rows[0][1] == "Client0000"
