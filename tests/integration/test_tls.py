"""HTTPS: `modelgate up --tls` makes a self-signed pair, prints its CA file, and serves HTTPS
that opensearch-py verifies (use_ssl, verify_certs, ca_certs) with basic auth."""

from __future__ import annotations

import ipaddress
import re
import signal
import socket
import ssl
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    SSLError,
)
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)

from common.security.passwords import hash_password
from common.security.users_file import UserEntry, add_user
from tests.integration.cluster import wait_for
from tests.integration.up_stack import up_env
from tools import processes
from tools.cli import PROJECT_ROOT, command
from tools.embedded_redis import free_port
from tools.tls import self_signed

READY_TIMEOUT_S = 90
CA_LINE = re.compile(r"clients trust the CA file (\S+)")


@dataclass
class TlsStack:
    port: int
    ca: Path
    log: str


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    tmp = tmp_path_factory.mktemp("tls")
    users = tmp / "internal_users.yml"
    for name, password, roles in (("admin", "admin-pw", ("all_access",)),
                                  ("rita", "rita-pw", ("ml_readonly_access",))):  # fmt: skip
        entry = UserEntry(hash=hash_password(password, rounds=4), roles=roles)
        add_user(users, name, entry)
    port = free_port()
    log = tmp / "up.log"
    with log.open("wb") as out:
        process = processes.spawn(
            command("up", "--tls", "--data-workers", "0"),
            cwd=PROJECT_ROOT,
            env=up_env(tmp, port, MODELGATE_SECURITY="on"),
            stdout=out,
            stderr=subprocess.STDOUT,
            new_session=True,
            dies_with_parent=True,
        )
    try:

        def ready() -> bool:
            text = log.read_text(errors="replace")
            assert process.poll() is None, f"modelgate up exited:\n{text[-3000:]}"
            return "modelgate is ready" in text

        wait_for(ready, READY_TIMEOUT_S, "modelgate up --tls to be ready", interval=0.1)
        text = log.read_text(errors="replace")
        found = CA_LINE.search(text)
        assert found is not None, text
        yield TlsStack(port, Path(found.group(1)), text)
    finally:
        processes.stop(process, sig=signal.SIGINT, grace_s=30)


def client(stack: TlsStack, user: str, password: str, **kw: Any) -> OpenSearch:
    options: dict[str, Any] = {
        "hosts": [{"host": "localhost", "port": stack.port}],
        "use_ssl": True,
        "verify_certs": True,
        "ca_certs": str(stack.ca),
        "http_auth": (user, password),
        "timeout": 10,
        "max_retries": 0,
    }
    options.update(kw)
    return OpenSearch(**options)


def test_up_tls_prints_its_ca_and_keeps_the_key_private(tls_stack: TlsStack) -> None:
    assert tls_stack.ca.name == "ca.pem" and tls_stack.ca.parent.name == "tls"
    assert f"modelgate API on https://127.0.0.1:{tls_stack.port}" in tls_stack.log
    key = tls_stack.ca.parent / "node-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in tls_stack.log


def test_opensearch_py_verifies_the_certificate_and_authenticates(tls_stack: TlsStack) -> None:
    admin = client(tls_stack, "admin", "admin-pw")
    assert admin.info()["version"]["distribution"] == "opensearch"
    who = admin.transport.perform_request("GET", "/_plugins/_security/authinfo")
    assert who["user_name"] == "admin" and who["roles"] == ["all_access"]
    found = admin.transport.perform_request(
        "POST", "/_plugins/_ml/models/_search", body={"query": {"match_all": {}}}
    )
    assert found["hits"]["total"]["value"] >= 0
    # The certificate names the loopback address too.
    by_ip = client(tls_stack, "admin", "admin-pw", hosts=[f"127.0.0.1:{tls_stack.port}"])
    assert by_ip.transport.perform_request("GET", "/_plugins/_ml/stats") is not None


def test_wrong_credentials_roles_and_untrusted_certificates_are_refused(
    tls_stack: TlsStack,
) -> None:
    with pytest.raises(AuthenticationException):
        client(tls_stack, "admin", "wrong").info()
    reader = client(tls_stack, "rita", "rita-pw")
    assert reader.transport.perform_request("GET", "/_plugins/_ml/stats") is not None
    with pytest.raises(AuthorizationException) as denied:
        reader.transport.perform_request(
            "PUT", "/_cluster/settings", body={"persistent": {"plugins.ml_commons.x": 1}}
        )
    assert denied.value.error == "security_exception"
    # Without the CA file the self-signed certificate is not trusted.
    with pytest.raises((SSLError, OpenSearchConnectionError)):
        client(tls_stack, "admin", "admin-pw", ca_certs=None).info()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{tls_stack.port}/", timeout=5)
    context = ssl.create_default_context(cafile=str(tls_stack.ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # older clients are served too
    raw = socket.create_connection(("127.0.0.1", tls_stack.port), timeout=5)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() == "TLSv1.2"


def test_the_self_signed_pair_is_kept_and_made_again_for_a_new_host(tmp_path: Path) -> None:
    first = self_signed(tmp_path, "127.0.0.1")
    made = first.cert.read_bytes()
    assert self_signed(tmp_path, "127.0.0.1").cert.read_bytes() == made
    again = self_signed(tmp_path, "10.1.2.3")  # the kept certificate does not name it
    cert = x509.load_pem_x509_certificate(again.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.1.2.3") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert again.cert.read_bytes() != made
    assert stat.S_IMODE(again.key.stat().st_mode) == 0o600
