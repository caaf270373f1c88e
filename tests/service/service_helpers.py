"""`faceindex serve` as a separate process for tests: started on a free 127.0.0.1 port with a
credentials file of its own, waited for (bounded), stopped by SIGTERM or killed.

    server = start_server(tmp_path / "home")
    rekognition = server.client()              # boto3, signed with the server's key pair
    ...
    assert server.stop() == 0                  # SIGTERM: requests in flight finish, exit code 0
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

REGION = "us-east-1"
START_TIMEOUT_S = 60.0  # the first start imports numpy, onnxruntime, botocore on 2 busy cores
STOP_TIMEOUT_S = 30.0
_LISTENING = re.compile(r"faceindex serve: listening on (http://127\.0\.0\.1:(\d+))")


class Credentials(NamedTuple):
    """An access key pair (a tuple too: `key_id, secret = server.credentials`)."""

    access_key_id: str
    secret_access_key: str


def write_credentials_file(path: Path, credentials: Credentials, name: str = "tests", extra: str = "") -> Path:
    """The server's credentials file (INI, mode 0600) holding one key pair (and `extra`: more sections)."""
    path.write_text(f"[{name}]\naws_access_key_id = {credentials.access_key_id}\n"
                    f"aws_secret_access_key = {credentials.secret_access_key}\n{extra}", encoding="utf-8")
    path.chmod(0o600)
    return path


def new_credentials() -> Credentials:
    return Credentials("AKIAFI" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30))


@dataclass
class RunningServer:
    endpoint_url: str
    home: Path
    process: subprocess.Popen[bytes]
    credentials: Credentials
    log_path: Path
    port: int
    _log_file: Any = field(repr=False, default=None)

    def client(self, **boto_config: Any) -> Any:
        """A boto3 rekognition client for this server, signed with its credentials (region us-east-1).
        Keyword arguments go to botocore.config.Config (e.g. retries={"total_max_attempts": 1}: one
        attempt; botocore's "max_attempts" counts the retries, not the attempts)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "rekognition", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
            config=Config(**boto_config))

    def log(self) -> str:
        """What the server has written (stdout and stderr) so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait (bounded), then SIGKILL; the exit code (negative: the signal that ended it)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._close_log()
        return int(self.process.returncode)

    def kill(self) -> int:
        """SIGKILL at once (no shutdown); the exit code."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_log()
        return int(self.process.returncode)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def serve_command(home: Path, *, workers: int, queue_size: int, credentials_file: Path | None,
                  s3_root: Path | None, extra_args: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "faceindex.cli", "serve", "--home", str(home), "--host", "127.0.0.1",
               "--port", "0", "--workers", str(workers), "--queue-size", str(queue_size)]
    if credentials_file is not None:
        command += ["--credentials", str(credentials_file)]
    if s3_root is not None:
        command += ["--s3-root", str(s3_root)]
    return command + list(extra_args)


def start_server(home: Path, *, workers: int = 2, queue_size: int = 16, s3_root: Path | None = None,
                 extra_args: Sequence[str] = (), extra_keys: str = "", env: dict[str, str] | None = None,
                 credentials: Credentials | None = None) -> RunningServer:
    """`faceindex serve` over `home` on a free port of 127.0.0.1, answering once this returns.
    Its credentials file and log are written beside home (home.parent / "<home name>-serve.*");
    extra_keys: more INI sections for that file; env: added to the server's environment;
    credentials: the main key pair (default: a new one; the same again serves a restarted server)."""
    home = Path(home)
    home.parent.mkdir(parents=True, exist_ok=True)
    credentials = credentials or new_credentials()
    credentials_file = write_credentials_file(home.parent / f"{home.name}-serve.credentials", credentials,
                                              extra=extra_keys)
    log_path = home.parent / f"{home.name}-serve.log"
    log_file = open(log_path, "wb")  # a file, not a pipe: a chatty server never blocks on a full pipe
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    command = serve_command(home, workers=workers, queue_size=queue_size,
                            credentials_file=None if "--no-auth" in extra_args else credentials_file,
                            s3_root=s3_root, extra_args=extra_args)
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        found = _LISTENING.search(text)
        if found and _answers(int(found.group(2))):
            return RunningServer(found.group(1), home, process, credentials, log_path, int(found.group(2)), log_file)
        if process.poll() is not None:
            log_file.close()
            raise RuntimeError(f"faceindex serve exited with {process.returncode} before answering:\n{text}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            log_file.close()
            raise RuntimeError(f"faceindex serve did not answer within {START_TIMEOUT_S:.0f} s:\n{text}")
        time.sleep(0.1)


def _answers(port: int) -> bool:
    """Whether the server answers HTTP at all (any status: an unsigned request gets an error)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("POST", "/", body=b"{}")
            connection.getresponse().read()
            return True
        finally:
            connection.close()
    except OSError:
        return False


def raw_request(server: RunningServer, body: bytes | str, headers: dict[str, str] | None = None,
                method: str = "POST", path: str = "/", timeout: float = 30.0) -> tuple[int, dict[str, str], Any]:
    """An HTTP request as given (unsigned unless the headers carry a signature): status, headers
    (lower-case names) and the JSON body (None when the body is not JSON)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    return response.status, answer_headers, document


def signed_headers(server: RunningServer, operation: str | None, body: bytes, *,
                   credentials: Credentials | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of a request signed as boto3 signs it (SigV4, botocore's own signer);
    operation None: no X-Amz-Target header."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    credentials = credentials or server.credentials
    headers = {"Content-Type": "application/x-amz-json-1.1",
               **({"X-Amz-Target": f"RekognitionService.{operation}"} if operation else {}), **(extra or {})}
    request = AWSRequest(method="POST", url=server.endpoint_url + "/", data=body, headers=headers)
    SigV4Auth(BotoCredentials(credentials.access_key_id, credentials.secret_access_key), "rekognition",
              REGION).add_auth(request)
    return dict(request.headers.items())
