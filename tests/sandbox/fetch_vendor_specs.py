"""Download Zoho's CRM v8 OpenAPI files that the sandbox's shape checks read, pinned by commit and SHA-256.

    make vendor-specs        (or: python -m tests.sandbox.fetch_vendor_specs)

Zoho publishes these files (github.com/zoho/crm-oas) without a licence, so the repository does not carry them;
each developer or CI run fetches them from Zoho's own repository instead. Twilio's file is MIT-licensed and is
committed under docs/vendors/specs/twilio/. Files already present with the right hash are left alone; a file
whose download does not hash to the pinned value is refused and nothing is written for it.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.sandbox.openapi import specs_dir

ZOHO_CRM_OAS_COMMIT = "45dff2cc9c69403c85b8a3642e7056528dc668d5"
ZOHO_CRM_OAS_URL = f"https://raw.githubusercontent.com/zoho/crm-oas/{ZOHO_CRM_OAS_COMMIT}/v8.0/"
# The files the tests read and the ones they reference (modules.json); coql, notes and record_count are not used.
ZOHO_CRM_OAS_FILES = {
    "bulk_read.json": "68dd62a772d536d9499d0dadde555f13b61b5a3160a9e50461cc2e8fef2c529b",
    "common.json": "88b8fdac27543ac1c45c8efa8ef1308593747896e22eee6ac81db15983368ca5",
    "fields.json": "d123508bb72949b123cac86b8f4d59872ff15d02abc1c93e1830dcca0838d66f",
    "modules.json": "36b08eedc3b29c1b0532277b9118e79207e149b861623d2e5d0263661af722ac",
    "notifications.json": "0e7587ab696d6b2de6337a7238ab3aa3ff1b7bcb6bdfdec9cba22af3f5cfb6fa",
    "record.json": "c122a12dc280956e88233a38818b25c0f6fc1209f9f09408ef26b5de178248cf",
    "users.json": "fc03a24f710c584c0ce8d0fa210670ab7ad5d72a37542d520b3d9ab899cbe7cc",
}


class SpecMismatch(Exception):
    """A downloaded file is not the pinned one (Zoho changed history, or the download was altered)."""


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a fixed https URL)
        return response.read()


def fetch_zoho_specs(*, folder: Path | None = None, download: Callable[[str], bytes] = _download) -> list[str]:
    """Make `folder` (default: <specs>/zoho-crm-v8) hold every pinned file; the names of those downloaded."""
    target = folder or specs_dir() / "zoho-crm-v8"
    target.mkdir(parents=True, exist_ok=True)
    fetched = []
    for name, expected in ZOHO_CRM_OAS_FILES.items():
        path = target / name
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == expected:
            continue
        content = download(ZOHO_CRM_OAS_URL + name)
        actual = hashlib.sha256(content).hexdigest()
        if actual != expected:
            raise SpecMismatch(f"{name} from {ZOHO_CRM_OAS_URL} hashes to {actual}, not the pinned {expected}")
        partial = path.with_suffix(".json.part")
        partial.write_bytes(content)
        partial.replace(path)
        fetched.append(name)
    return fetched


def main() -> int:
    try:
        fetched = fetch_zoho_specs()
    except (OSError, SpecMismatch) as exc:
        print(f"vendor specs: {exc}", file=sys.stderr)
        return 1
    print(f"vendor specs: Zoho crm-oas @ {ZOHO_CRM_OAS_COMMIT[:12]}: {len(fetched)} downloaded, all files verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
