"""AWS Signature Version 4 for aws_sigv4 connectors, done by botocore (no I/O)."""

from __future__ import annotations

import hashlib


def sign_request(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    credential: dict[str, str],
    region: str,
    service: str,
) -> dict[str, str]:
    """Return headers plus X-Amz-Date, x-amz-content-sha256, token and Authorization."""
    # Imported on the first signed request: botocore (with urllib3) is several MB per node,
    # and a node without an aws_sigv4 connector never needs it. The import is cached after.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(
        credential["access_key"], credential["secret_key"], credential.get("session_token")
    )
    unsigned = {k: v for k, v in headers.items() if k.lower() != "x-amz-content-sha256"}
    # Payload signing on, as ML Commons' signer does: the body hash is itself signed.
    unsigned["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method=method.upper(), url=url, data=body, headers=unsigned)
    SigV4Auth(creds, service, region).add_auth(request)
    return dict(request.headers.items())
