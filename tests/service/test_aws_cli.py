"""A short session of the AWS CLI (awscli from PyPI) against `faceindex serve`: create, list,
describe and delete a collection, and an error, with credentials from the environment and the
CLI's config files pointed at empty files of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from service_helpers import RunningServer

AWS = Path(sys.executable).with_name("aws")


def aws(server: RunningServer, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("[default]\noutput = json\n")
    credentials.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.credentials.access_key_id,
               AWS_SECRET_ACCESS_KEY=server.credentials.secret_access_key, AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials), AWS_PAGER="",
               AWS_MAX_ATTEMPTS="1")
    return subprocess.run([str(AWS), "rekognition", *args, "--endpoint-url", server.endpoint_url],
                          capture_output=True, text=True, env=env, timeout=120)


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.mark.slow
def test_aws_cli_session(rekognition_server: RunningServer, tmp_path: Path) -> None:
    assert AWS.is_file(), "awscli is in the test extra"
    created = ok(aws(rekognition_server, tmp_path, "create-collection", "--collection-id", "from-cli"))
    assert created["CollectionArn"].endswith(":collection/from-cli") and created["StatusCode"] == 200
    assert "from-cli" in ok(aws(rekognition_server, tmp_path, "list-collections"))["CollectionIds"]
    described = ok(aws(rekognition_server, tmp_path, "describe-collection", "--collection-id", "from-cli"))
    assert described["FaceCount"] == 0 and described["FaceModelVersion"] == created["FaceModelVersion"]
    ok(aws(rekognition_server, tmp_path, "delete-collection", "--collection-id", "from-cli"))
    missing = aws(rekognition_server, tmp_path, "describe-collection", "--collection-id", "from-cli")
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr and "DescribeCollection" in missing.stderr
