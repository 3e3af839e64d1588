"""The AWS SigV4 check SageMaker and Bedrock make, refusing as AWS does (403s botocore parses)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tools.mock_upstream.config import CONFIG_KEY

MISSING_TOKEN = "Missing Authentication Token"
BAD_TOKEN = "The security token included in the request is invalid."
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class SigV4Claim:
    """What an AWS4-HMAC-SHA256 Authorization header asserts about its request."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def aws_error(status: int, error_type: str, message: str) -> web.Response:
    """An AWS REST-JSON error answer."""
    # botocore takes the error code of REST-JSON services from this header.
    headers = {"x-amzn-ErrorType": error_type}
    return web.json_response({"message": message}, status=status, headers=headers)


def _split_param(param: str) -> tuple[str, str]:
    key, _, value = param.strip().partition("=")
    return key, value


def parse_sigv4_authorization(value: str) -> SigV4Claim | None:
    """Parse an AWS4-HMAC-SHA256 Authorization header; None when it is malformed."""
    algorithm, _, params = value.strip().partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        return None
    fields = dict(_split_param(p) for p in params.split(","))
    scope = fields.get("Credential", "").split("/")
    signed_headers = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    if len(scope) != 5 or scope[4] != "aws4_request" or not signed_headers or not signature:
        return None
    access_key, date, region, service, _ = scope
    headers = tuple(signed_headers.split(";"))
    return SigV4Claim(access_key, date, region, service, headers, signature)


def _is_amz_date(value: str) -> bool:
    try:
        datetime.datetime.strptime(value, AMZ_DATE_FORMAT)
    except ValueError:
        return False
    return True


def _expected_signature(request: web.Request, claim: SigV4Claim, secret: str, body: bytes) -> str:
    """Recompute the signature with botocore from only what the client says it signed."""
    # raw_path keeps the percent-encoding that went over the wire (Bedrock model ids carry
    # %3A); botocore signs that form, double-encoding it in the canonical request.
    url = f"http://{request.host}{request.raw_path}"
    aws_request = AWSRequest(method=request.method, url=url, data=body)
    for name in claim.signed_headers:
        for value in request.headers.getall(name, []):
            aws_request.headers[name] = value  # HTTPHeaders appends, keeping repeats
    # Pinning the timestamp lets us call the signing steps without add_auth reading the clock.
    aws_request.context["timestamp"] = request.headers["X-Amz-Date"]
    token = request.headers.get("X-Amz-Security-Token")
    auth = SigV4Auth(Credentials(claim.access_key, secret, token), claim.service, claim.region)
    canonical = auth.canonical_request(aws_request)
    return auth.signature(auth.string_to_sign(aws_request, canonical), aws_request)


def _claim_denial(request: web.Request, claim: SigV4Claim, service: str) -> web.Response | None:
    """Refusals that need no cryptography: wrong key, service, date or signed-header set."""
    if claim.access_key != request.app[CONFIG_KEY].aws_access_key:
        return aws_error(403, "UnrecognizedClientException", BAD_TOKEN)
    if claim.service != service:
        message = f"Credential should be scoped to correct service: '{service}'."
        return aws_error(403, "InvalidSignatureException", message)
    if not _is_amz_date(request.headers.get("X-Amz-Date", "")):
        message = "Authorization header requires existence of a valid 'X-Amz-Date' header."
        return aws_error(403, "IncompleteSignatureException", message)
    required = {"host", "x-amz-date"}
    if "X-Amz-Security-Token" in request.headers:
        required.add("x-amz-security-token")
    missing = sorted(required - set(claim.signed_headers))
    if missing:
        message = f"SignedHeaders must include: {';'.join(missing)}."
        return aws_error(403, "InvalidSignatureException", message)
    return None


def _signature_holds(request: web.Request, claim: SigV4Claim, secret: str, body: bytes) -> bool:
    # botocore trusts a signed X-Amz-Content-SHA256 instead of hashing, so check it ourselves.
    claimed_hash = request.headers.get("X-Amz-Content-SHA256")
    if claimed_hash is not None and claimed_hash != hashlib.sha256(body).hexdigest():
        return False
    expected = _expected_signature(request, claim, secret, body).encode()
    # Bytes, because compare_digest rejects non-ASCII str and header values are client-chosen.
    return hmac.compare_digest(expected, claim.signature.encode("utf-8", "surrogateescape"))


async def sigv4_denial(request: web.Request, service: str) -> web.Response | None:
    """The 403 AWS would send for this request to service, or None if its signature holds."""
    header = request.headers.get("Authorization")
    if not header:
        return aws_error(403, "MissingAuthenticationTokenException", MISSING_TOKEN)
    claim = parse_sigv4_authorization(header)
    if claim is None:
        message = "Authorization header is not a well-formed AWS4-HMAC-SHA256 signature."
        return aws_error(403, "IncompleteSignatureException", message)
    denial = _claim_denial(request, claim, service)
    if denial is not None:
        return denial
    secret = request.app[CONFIG_KEY].aws_secret_key
    if not _signature_holds(request, claim, secret, await request.read()):
        return aws_error(403, "InvalidSignatureException", BAD_SIGNATURE)
    return None
