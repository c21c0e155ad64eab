"""A self-signed certificate for the sandbox's HTTPS listener (Entra ID's stand-in: msal accepts only an https
authority). Made with `cryptography` for 127.0.0.1 and localhost, written as cert.pem (also the CA bundle clients
verify with: it signs itself) and key.pem in a directory, and reused while it is valid."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
VALID_DAYS = 365
RENEW_BEFORE_DAYS = 7


def certificate(directory: str | os.PathLike[str]) -> tuple[str, str]:
    """(cert path, key path) in `directory`, made when missing, unreadable or close to expiry."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    if not _still_good(cert_path, key_path):
        _write(cert_path, key_path)
    return str(cert_path), str(key_path)


def _still_good(cert_path: Path, key_path: Path) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        found = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return False
    left = found.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    return left > datetime.timedelta(days=RENEW_BEFORE_DAYS)


def _write(cert_path: Path, key_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Leadline sandbox (127.0.0.1)")])
    now = datetime.datetime.now(datetime.UTC)
    # It is its own CA: clients trust it by naming cert.pem as their CA bundle.
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Written to temporary names then renamed, so two processes starting at once never read half a file.
    key_tmp, cert_tmp = key_path.with_suffix(f".{os.getpid()}.tmp"), cert_path.with_suffix(f".{os.getpid()}.tmp")
    key_tmp.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_tmp, 0o600)
    cert_tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(key_tmp, key_path)
    os.replace(cert_tmp, cert_path)
