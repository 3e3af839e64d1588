"""A self-signed certificate authority and server certificate, for trying HTTPS locally.

`modelgate up --tls` keeps them in DATA_DIR/tls (made once, reused while valid): clients
trust ca.pem (opensearch-py: ca_certs=...). For anything beyond a local try, give the API a
certificate of your own (MODELGATE_TLS_CERT_FILE / MODELGATE_TLS_KEY_FILE).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365
# Reused only while it has this long left; then `up --tls` makes a new pair (and a new CA).
RENEW_BEFORE = datetime.timedelta(days=7)
KEY_MODE = 0o600
_Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Where a certificate, its key and the CA that signed it are."""

    ca: Path
    cert: Path
    key: Path


def self_signed(directory: Path, host: str) -> TlsFiles:
    """The local CA and a server certificate for localhost, this host and host; made if
    missing or near expiry."""
    files = TlsFiles(directory / "ca.pem", directory / "node.pem", directory / "node-key.pem")
    if _still_valid(files, _names(host)):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelgate local CA")])
    ca = (
        _builder(ca_name, ca_name, ca_key, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelgate")])
    cert = (
        _builder(name, ca_name, key, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(files.key, _private_pem(key), KEY_MODE)
    _write(files.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(files.ca, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    return files


def _builder(
    subject: x509.Name, issuer: x509.Name, key: _Key, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # small clock skews
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _names(host: str) -> list[x509.GeneralName]:
    """localhost, the loopback addresses, this machine's name, and the configured host."""
    dns = {"localhost", socket.gethostname()}
    ips = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    try:
        address = ipaddress.ip_address(host)
        if not address.is_unspecified:  # 0.0.0.0 is no name a client connects to
            ips.add(address)
    except ValueError:
        dns.add(host)
    found: list[x509.GeneralName] = [x509.DNSName(name) for name in sorted(dns)]
    found.extend(x509.IPAddress(ip) for ip in sorted(ips, key=str))
    return found


def _still_valid(files: TlsFiles, names: list[x509.GeneralName]) -> bool:
    """Whether the kept pair names everything it must and is not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        x509.load_pem_x509_certificate(files.ca.read_bytes())
        named = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if not files.key.exists() or not set(names) <= set(named):
            return False
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    return cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > RENEW_BEFORE


def _private_pem(key: _Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    # Created with its final mode: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)
