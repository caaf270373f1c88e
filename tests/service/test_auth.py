"""SigV4 checks with boto3 itself: a wrong secret, an unknown key id, a date 20 minutes off, a body
changed after signing; the credentials file's permissions; --no-auth only on loopback."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from service_helpers import (Credentials, RunningServer, raw_request, serve_command, signed_headers, start_server,
                             write_credentials_file)

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client_with(server: RunningServer, key_id: str, secret: str) -> Any:
    return boto3.client("rekognition", endpoint_url=server.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=key_id, aws_secret_access_key=secret, config=NO_RETRY)


def refused(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as error:
        call()
    response = error.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_wrong_secret(rekognition_server: RunningServer) -> None:
    client = client_with(rekognition_server, rekognition_server.credentials.access_key_id, "not-the-secret")
    code, message, status = refused(client.list_collections)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert "not-the-secret" not in rekognition_server.log()
    assert rekognition_server.credentials.secret_access_key not in rekognition_server.log()


def test_unknown_key_id(rekognition_server: RunningServer) -> None:
    client = client_with(rekognition_server, "AKIANOBODYKNOWS00000", rekognition_server.credentials.secret_access_key)
    code, message, status = refused(client.list_collections)
    assert (code, status) == ("UnrecognizedClientException", 400)
    assert message == "The security token included in the request is invalid."


@pytest.mark.parametrize("offset_minutes, wording", [(-20, "Signature expired"), (20, "Signature not yet current")])
def test_date_too_far_off(rekognition_server: RunningServer, offset_minutes: int, wording: str) -> None:
    client = client_with(rekognition_server, rekognition_server.credentials.access_key_id,
                         rekognition_server.credentials.secret_access_key)
    signed_at = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=offset_minutes)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        code, message, status = refused(client.list_collections)
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith(wording), message
    assert signed_at.strftime("%Y%m%dT%H%M%SZ") in message
    # 4 minutes off is within AWS's 5 minutes
    with mock.patch("botocore.auth.get_current_datetime",
                    return_value=datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=4)):
        assert "CollectionIds" in client.list_collections()


def test_body_changed_after_signing(rekognition_server: RunningServer) -> None:
    headers = signed_headers(rekognition_server, "DescribeCollection", b'{"CollectionId": "a"}')
    status, _, document = raw_request(rekognition_server, b'{"CollectionId": "b"}', headers)
    assert (status, document["__type"]) == (400, "InvalidSignatureException")
    # an unsigned payload is not accepted over plain HTTP
    headers = signed_headers(rekognition_server, "ListCollections", b"{}",
                             extra={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    status, _, document = raw_request(rekognition_server, b"{}", headers)
    assert (status, document["__type"]) == (400, "InvalidSignatureException")


def test_malformed_authorization(rekognition_server: RunningServer) -> None:
    headers = signed_headers(rekognition_server, "ListCollections", b"{}")
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=x"
    status, _, document = raw_request(rekognition_server, b"{}", headers)
    assert (status, document["__type"]) == (400, "IncompleteSignatureException")


def test_credentials_file_open_to_others_is_refused(tmp_path: Path) -> None:
    credentials_file = write_credentials_file(tmp_path / "keys", Credentials("AKIAX", "secret-value"))
    credentials_file.chmod(0o644)
    command = serve_command(tmp_path / "home", workers=1, queue_size=1, credentials_file=credentials_file,
                            s3_root=None, extra_args=())
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "chmod 600" in done.stderr and "secret-value" not in done.stderr


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "faceindex.cli", "serve", "--home", str(tmp_path), "--no-auth",
                           "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--no-auth is allowed only on a loopback address" in done.stderr


def test_no_auth_on_loopback_serves_unsigned_requests_and_says_so(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", workers=1, queue_size=2, extra_args=["--no-auth"])
    try:
        assert "authentication is OFF" in server.log()
        status, _, document = raw_request(server, b"{}", {
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "RekognitionService.ListCollections"})
        assert status == 200 and document["CollectionIds"] == []
    finally:
        assert server.stop() == 0


def test_serving_needs_keys_or_no_auth(tmp_path: Path) -> None:
    for extra, says in [([], "--credentials FILE is needed"),
                        (["--no-auth", "--credentials", str(tmp_path / "k")], "either --credentials or --no-auth")]:
        done = subprocess.run([sys.executable, "-m", "faceindex.cli", "serve", "--home", str(tmp_path), "--port", "0",
                               *extra], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and says in done.stderr, done.stderr
