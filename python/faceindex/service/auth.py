"""AWS Signature Version 4 checks of incoming requests, against the operator's access keys.

The signature is computed again with botocore's own signer (SigV4Auth) over the request as the
client sent it (the headers it says it signed, its path and body, its timestamp) and compared in
constant time; the algorithm is not written a second time here.

The credentials file (--credentials) is INI, as ~/.aws/credentials is, one section per key pair:

    [alice]
    aws_access_key_id = AKIAFACEINDEXALICE01
    aws_secret_access_key = a-long-random-secret

A section may also limit its key to operations and collections (`operations =`, `collections =`:
access.py) and give the key a session token (`aws_session_token =`): a request signed with that
key must then carry it (X-Amz-Security-Token, as SDKs send temporary credentials); a key without
one refuses requests that carry a token, so that temporary credentials never pass unchecked.

It must not be readable by group or others (it is refused otherwise). Secret keys and tokens are
never logged nor put in a message. Errors are Rekognition's (AWS's for JSON 1.1 services):

    no Authorization header                  MissingAuthenticationTokenException
    a malformed one                          IncompleteSignatureException
    an access key id not in the file         UnrecognizedClientException
    a wrong signature (wrong secret, a body
    or header changed)                       InvalidSignatureException
    a date more than 5 minutes off           InvalidSignatureException "Signature expired: ..."
    a session token not the key's, or one
    sent for a key that has none             UnrecognizedClientException
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from faceindex.service.access import AccessPolicy, PolicyError, read_policy
from faceindex.service.errors import ServiceError

SERVICE = "rekognition"
MAX_SKEW = timedelta(minutes=5)
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*\Z")


class CredentialsFileError(ValueError):
    """The credentials file cannot be used (missing, open to others, malformed)."""


@dataclass(frozen=True)
class AccessKey:
    """One key pair of the credentials file, what it may do, and its session token (if it has one)."""

    secret: str
    policy: AccessPolicy
    session_token: str | None = None


def load_keys(path: Path, known_operations: Iterable[str] = ()) -> dict[str, AccessKey]:
    """Access key id -> AccessKey from the INI file at path (see the module doc). known_operations:
    the operation names a key's `operations =` patterns are checked against (none given: not checked)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as e:
        raise CredentialsFileError(f"cannot read the credentials file {path}: {e.strerror}") from e
    if mode & 0o077:
        raise CredentialsFileError(
            f"the credentials file {path} is open to group or others (mode {mode:04o}); "
            f"it holds secret keys: chmod 600 {path}")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as e:
        raise CredentialsFileError(f"the credentials file {path} is not INI: {e}") from e
    known = list(known_operations)
    keys: dict[str, AccessKey] = {}
    for section in parser.sections():
        key_id = parser.get(section, "aws_access_key_id", fallback="").strip()
        secret = parser.get(section, "aws_secret_access_key", fallback="").strip()
        if not key_id or not secret:
            raise CredentialsFileError(
                f"section [{section}] of {path} needs aws_access_key_id and aws_secret_access_key")
        if key_id in keys:
            raise CredentialsFileError(f"access key id {key_id} is in {path} twice")
        unknown = set(parser.options(section)) - {"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                                                  "operations", "collections"}
        if unknown:
            raise CredentialsFileError(f"section [{section}] of {path} has unknown setting(s) {', '.join(sorted(unknown))} "
                                       "(known: aws_access_key_id, aws_secret_access_key, aws_session_token, "
                                       "operations, collections)")
        try:
            policy = read_policy(section, key_id, parser.get(section, "operations", fallback=None),
                                 parser.get(section, "collections", fallback=None), known)
        except PolicyError as e:
            raise CredentialsFileError(f"{path}: {e}") from e
        token = parser.get(section, "aws_session_token", fallback="").strip() or None
        keys[key_id] = AccessKey(secret, policy, token)
    if not keys:
        raise CredentialsFileError(f"the credentials file {path} holds no key pair")
    return keys


def load_credentials(path: Path) -> dict[str, str]:
    """Access key id -> secret key from the INI file at path (see the module doc)."""
    return {key_id: key.secret for key_id, key in load_keys(path).items()}


def _signature_error(message: str) -> ServiceError:
    return ServiceError("InvalidSignatureException", message)


def _incomplete(message: str) -> ServiceError:
    return ServiceError("IncompleteSignatureException", message)


class SigV4Verifier:
    """Checks a request's SigV4 signature; `verify` returns the access key id that signed it."""

    def __init__(self, keys: Mapping[str, str], *, now: Callable[[], datetime] | None = None,
                 session_tokens: Mapping[str, str] | None = None) -> None:
        self._keys = dict(keys)
        self._tokens = dict(session_tokens or {})  # key id -> the session token its requests must carry
        self._now = now or (lambda: datetime.now(timezone.utc))

    def verify(self, method: str, host: str, raw_path: str, query: str,
               headers: Sequence[tuple[str, str]], body: bytes) -> str:
        by_name: dict[str, list[str]] = {}
        for name, value in headers:
            by_name.setdefault(name.lower(), []).append(value)
        authorization = by_name.get("authorization")
        if not authorization:
            raise ServiceError("MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTHORIZATION.match(authorization[0].strip())
        if match is None:
            raise _incomplete("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                              "parameters of AWS4-HMAC-SHA256")
        scope = match["credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise _incomplete("Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request")
        key_id, scope_date, region, service = scope[:4]
        secret = self._keys.get(key_id)
        if secret is None:
            raise ServiceError("UnrecognizedClientException", "The security token included in the request is invalid.")
        if service != SERVICE:
            raise _signature_error(f"Credential should be scoped to correct service: '{SERVICE}'.")
        self._check_session_token(key_id, by_name.get("x-amz-security-token"), match["signed"].split(";"))

        amz_date = (by_name.get("x-amz-date") or [""])[0]
        try:
            signed_at = datetime.strptime(amz_date, _TIMESTAMP).replace(tzinfo=timezone.utc)
        except ValueError:
            raise _incomplete("Authorization requires an X-Amz-Date header of the form YYYYMMDDTHHMMSSZ") from None
        if scope_date != amz_date[:8]:
            raise _signature_error(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                   f"from HTTP: '{scope_date}' != '{amz_date[:8]}'")
        now = self._now()
        stamp = now.strftime(_TIMESTAMP)
        if signed_at < now - MAX_SKEW:
            earliest = (now - MAX_SKEW).strftime(_TIMESTAMP)
            raise _signature_error(f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)")
        if signed_at > now + MAX_SKEW:
            latest = (now + MAX_SKEW).strftime(_TIMESTAMP)
            raise _signature_error(f"Signature not yet current: {amz_date} is still later than {latest} "
                                   f"({stamp} + 5 min.)")

        signed = match["signed"].split(";")
        if "host" not in signed:
            raise _signature_error("'Host' must be a signed header")
        missing = [name for name in signed if name not in by_name and name != "host"]
        if missing:
            raise _signature_error(f"signed header(s) {', '.join(missing)} are not in the request")
        content_sha256 = by_name.get("x-amz-content-sha256")
        if content_sha256 and content_sha256[0] != hashlib.sha256(body).hexdigest():
            # UNSIGNED-PAYLOAD included: over plain HTTP the body must be signed.
            raise _signature_error("The provided 'x-amz-content-sha256' header does not match what was computed.")

        # The request as the client signed it: only its signed headers, its path and query as sent.
        request_headers = [(name, value) for name in signed for value in by_name.get(name, [])]
        if "host" not in by_name:
            request_headers.append(("host", host))
        url = f"http://{(by_name.get('host') or [host])[0]}{raw_path}" + (f"?{query}" if query else "")
        try:
            request = AWSRequest(method=method, url=url, data=body)
            for name, value in request_headers:
                request.headers.add_header(name, value)
            request.context["timestamp"] = amz_date
            signer = SigV4Auth(Credentials(key_id, secret), SERVICE, region)
            canonical = signer.canonical_request(request)
            expected = signer.signature(signer.string_to_sign(request, canonical), request)
        except ValueError as e:  # a Host or path no URL can hold (e.g. "Host: [")
            raise _signature_error(f"the request cannot be signed as sent: {str(e)[:100]}") from None
        if not hmac.compare_digest(expected, match["signature"]):
            raise _signature_error(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        return key_id


    def _check_session_token(self, key_id: str, sent: list[str] | None, signed: list[str]) -> None:
        """A key with a session token in the file needs it, signed; one without refuses any token."""
        expected = self._tokens.get(key_id)
        if sent is None:
            if expected is not None:
                raise ServiceError("UnrecognizedClientException",
                                   "The security token included in the request is invalid: this access key is "
                                   "used with a session token (X-Amz-Security-Token), and the request has none.")
            return
        if expected is None:
            raise ServiceError("UnrecognizedClientException",
                               "The security token included in the request is invalid: faceindex's access key has "
                               "no session token; sign without one (temporary credentials are not issued here).")
        if "x-amz-security-token" not in signed:
            raise _signature_error("'X-Amz-Security-Token' must be a signed header")
        if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), expected.encode()):
            raise ServiceError("UnrecognizedClientException", "The security token included in the request is invalid.")
