"""The vendors' OpenAPI files the shape checks read: Twilio's committed as published, Zoho's downloaded pinned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.sandbox import fetch_vendor_specs
from tests.sandbox.fetch_vendor_specs import ZOHO_CRM_OAS_FILES, SpecMismatch, fetch_zoho_specs

REPO = Path(__file__).resolve().parents[2]
TWILIO_SPEC = REPO / "docs" / "vendors" / "specs" / "twilio" / "twilio_api_v2010.json"
# twilio/twilio-oai at d50069b44ea8cd23141385bdb6db48f16ff75bb5, spec/json/twilio_api_v2010.json, unchanged.
TWILIO_SHA256 = "99cae87a6bb1725f71363364cbd30282a13140374b2d5f9bdd5bdfa5d4c8a6d7"


def test_twilios_spec_is_committed_unchanged_with_its_licence():
    assert hashlib.sha256(TWILIO_SPEC.read_bytes()).hexdigest() == TWILIO_SHA256
    assert (TWILIO_SPEC.parent / "LICENSE").read_text().startswith("MIT License")


def test_the_default_specs_folder_is_inside_the_repository(monkeypatch):
    monkeypatch.delenv("LEADLINE_VENDOR_SPECS", raising=False)
    from tests.sandbox.openapi import specs_dir

    assert specs_dir() == REPO / "docs" / "vendors" / "specs"


def pinned_files() -> dict[str, bytes]:
    """Stand-ins whose pinned hashes are replaced by their own, as if Zoho served exactly these bytes."""
    return {name: json.dumps({"openapi": "3.0.0", "info": {"title": name}}).encode() for name in ZOHO_CRM_OAS_FILES}


@pytest.fixture
def served(monkeypatch) -> dict[str, bytes]:
    files = pinned_files()
    monkeypatch.setattr(
        fetch_vendor_specs,
        "ZOHO_CRM_OAS_FILES",
        {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
    )
    return files


def test_missing_files_are_downloaded_from_the_pinned_commit_and_kept(tmp_path, served):
    urls = []

    def download(url: str) -> bytes:
        urls.append(url)
        return served[url.rsplit("/", 1)[1]]

    assert sorted(fetch_zoho_specs(folder=tmp_path, download=download)) == sorted(served)
    assert all(f"/zoho/crm-oas/{fetch_vendor_specs.ZOHO_CRM_OAS_COMMIT}/v8.0/" in url for url in urls)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == served

    assert fetch_zoho_specs(folder=tmp_path, download=lambda url: pytest.fail(f"downloaded {url} again")) == []


def test_a_download_that_is_not_the_pinned_file_is_refused_and_not_written(tmp_path, served):
    def download(url: str) -> bytes:
        name = url.rsplit("/", 1)[1]
        return b"{}" if name == "record.json" else served[name]

    with pytest.raises(SpecMismatch, match=r"record\.json"):
        fetch_zoho_specs(folder=tmp_path, download=download)
    assert not (tmp_path / "record.json").exists()
    assert not list(tmp_path.glob("*.part"))


def test_a_changed_local_file_is_downloaded_again(tmp_path, served):
    fetch_zoho_specs(folder=tmp_path, download=lambda url: served[url.rsplit("/", 1)[1]])
    (tmp_path / "users.json").write_text("{}")

    fetched = fetch_zoho_specs(folder=tmp_path, download=lambda url: served[url.rsplit("/", 1)[1]])

    assert fetched == ["users.json"]
    assert (tmp_path / "users.json").read_bytes() == served["users.json"]
