"""Keys with least privilege: the credentials file limits a key to operations (patterns) and collections
(ids, prefixes); everything else is AccessDeniedException in AWS's words, checked with boto3 for each
class of operation (collections, faces, searches, users, images, video); listings show only what a key
may use; session tokens are checked against the file or refused; the start-up lines say who may do what
and never a secret. The AWS CLI gets the same answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ops_helpers import OBAMA, error_of, photo
from service_helpers import REGION, Credentials, RunningServer, new_credentials, start_server

DataFile = Callable[[str], Path]
SEARCHER, TENANT, TEMPORARY = new_credentials(), new_credentials(), new_credentials()
SESSION_TOKEN = "FwoGZXIvYXdzEJr-faceindex-test-token"
KEYS = f"""
[searcher]
aws_access_key_id = {SEARCHER.access_key_id}
aws_secret_access_key = {SEARCHER.secret_access_key}
operations = Search*, Detect*, CompareFaces, List*, Describe*
collections = people

[tenant-a]
aws_access_key_id = {TENANT.access_key_id}
aws_secret_access_key = {TENANT.secret_access_key}
collections = tenant-a-*

[temporary]
aws_access_key_id = {TEMPORARY.access_key_id}
aws_secret_access_key = {TEMPORARY.secret_access_key}
aws_session_token = {SESSION_TOKEN}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("keys") / "home", extra_keys=KEYS)
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log()


def client(server: RunningServer, credentials: Credentials, token: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("rekognition", endpoint_url=server.endpoint_url, region_name=REGION,
                        aws_access_key_id=credentials.access_key_id,
                        aws_secret_access_key=credentials.secret_access_key, aws_session_token=token,
                        config=Config(retries={"total_max_attempts": 1}))


def denied(call: Callable[..., Any], operation: str, resource: str | None = None, **params: Any) -> None:
    code, message, status = error_of(call, **params)
    assert (code, status) == ("AccessDeniedException", 400), (operation, code, message)
    expected = f"is not authorized to perform: rekognition:{operation}"
    assert expected in message and "because no identity-based policy allows" in message, message
    if resource is not None:
        assert f"on resource: {resource}" in message, message


def test_start_lines_say_who_may_do_what_and_no_secret(server: RunningServer) -> None:
    log = server.log()
    assert "faceindex serve: 4 access keys:" in log
    assert f"searcher ({SEARCHER.access_key_id}): Search*, Detect*, CompareFaces, List*, Describe* on collections " \
           "people" in log
    assert f"tenant-a ({TENANT.access_key_id}): every operation on collections tenant-a-*" in log
    assert f"tests ({server.credentials.access_key_id}): every operation on every collection" in log
    assert "temporary" in log and "with a session token" in log
    for secret in (SEARCHER.secret_access_key, TENANT.secret_access_key, TEMPORARY.secret_access_key,
                   server.credentials.secret_access_key, SESSION_TOKEN):
        assert secret not in log


def test_a_key_limited_to_searching_one_collection(server: RunningServer, data_file: DataFile) -> None:
    admin = server.client()
    for collection_id in ("people", "staff", "tenant-a-1"):
        admin.create_collection(CollectionId=collection_id)
    face = admin.index_faces(CollectionId="people", Image=photo(data_file, OBAMA))["FaceRecords"][0]["Face"]["FaceId"]
    admin.create_user(CollectionId="people", UserId="ann")
    rk = client(server, SEARCHER)
    people = "arn:aws:rekognition:us-east-1:000000000000:collection/people"
    staff = "arn:aws:rekognition:us-east-1:000000000000:collection/staff"
    # Allowed: searches, detection, listings and descriptions of its collection.
    assert rk.search_faces(CollectionId="people", FaceId=face)["SearchedFaceId"] == face
    assert rk.search_faces_by_image(CollectionId="people", Image=photo(data_file, OBAMA), FaceMatchThreshold=40)
    assert rk.search_users(CollectionId="people", UserId="ann")["SearchedUser"] == {"UserId": "ann"}
    assert len(rk.detect_faces(Image=photo(data_file, OBAMA))["FaceDetails"]) == 1
    assert rk.compare_faces(SourceImage=photo(data_file, OBAMA), TargetImage=photo(data_file, OBAMA))
    assert rk.describe_collection(CollectionId="people")["FaceCount"] == 1
    assert len(rk.list_faces(CollectionId="people")["Faces"]) == 1
    assert rk.list_collections()["CollectionIds"] == ["people"]  # only what it may use
    # Denied: every write, and any operation on another collection (before anything is looked up).
    denied(rk.create_collection, "CreateCollection", CollectionId="people")
    denied(rk.delete_collection, "DeleteCollection", people, CollectionId="people")
    denied(rk.index_faces, "IndexFaces", people, CollectionId="people", Image=photo(data_file, OBAMA))
    denied(rk.delete_faces, "DeleteFaces", people, CollectionId="people", FaceIds=[face])
    denied(rk.create_user, "CreateUser", people, CollectionId="people", UserId="bob")
    denied(rk.associate_faces, "AssociateFaces", people, CollectionId="people", UserId="ann", FaceIds=[face])
    denied(rk.search_faces, "SearchFaces", staff, CollectionId="staff", FaceId=face)
    denied(rk.describe_collection, "DescribeCollection", staff, CollectionId="staff")
    denied(rk.search_faces, "SearchFaces", None, CollectionId="nobody", FaceId=face)
    denied(rk.start_face_detection, "StartFaceDetection",
           Video={"S3Object": {"Bucket": "videos", "Name": "clip.mp4"}})
    denied(rk.tag_resource, "TagResource", ResourceArn=people, Tags={"a": "b"})
    assert admin.describe_collection(CollectionId="people")["FaceCount"] == 1  # nothing was done


def test_a_key_limited_to_its_tenants_collections(server: RunningServer, data_file: DataFile) -> None:
    rk = client(server, TENANT)
    rk.create_collection(CollectionId="tenant-a-2")
    rk.index_faces(CollectionId="tenant-a-2", Image=photo(data_file, OBAMA))
    rk.tag_resource(ResourceArn="arn:aws:rekognition:us-east-1:000000000000:collection/tenant-a-2",
                    Tags={"owner": "a"})
    listed = set(rk.list_collections()["CollectionIds"])
    assert "tenant-a-2" in listed and all(c.startswith("tenant-a-") for c in listed)
    assert "people" in server.client().list_collections()["CollectionIds"]
    denied(rk.create_collection, "CreateCollection",
           "arn:aws:rekognition:us-east-1:000000000000:collection/tenant-b-1", CollectionId="tenant-b-1")
    denied(rk.list_faces, "ListFaces", CollectionId="people")
    denied(rk.list_tags_for_resource, "ListTagsForResource",
           ResourceArn="arn:aws:rekognition:us-east-1:000000000000:collection/people")
    rk.delete_collection(CollectionId="tenant-a-2")


def test_session_tokens_are_checked_or_refused(server: RunningServer) -> None:
    assert client(server, TEMPORARY, SESSION_TOKEN).list_collections()["CollectionIds"] is not None
    for token in (None, SESSION_TOKEN + "x"):
        code, message, _ = error_of(client(server, TEMPORARY, token).list_collections)
        assert code == "UnrecognizedClientException" and "security token" in message, message
    # A key without a session token in the file refuses one (temporary credentials are not issued here).
    code, message, _ = error_of(client(server, SEARCHER, "anything").list_collections)
    assert code == "UnrecognizedClientException" and "no session token" in message, message


def test_the_aws_cli_is_denied_in_the_same_words(server: RunningServer, tmp_path: Path) -> None:
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("[default]\noutput = json\n")
    credentials.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=SEARCHER.access_key_id, AWS_SECRET_ACCESS_KEY=SEARCHER.secret_access_key,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
               AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
    aws = [str(Path(sys.executable).with_name("aws")), "rekognition", "--endpoint-url", server.endpoint_url]
    done = subprocess.run([*aws, "create-collection", "--collection-id", "cli-made"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode != 0
    assert "AccessDeniedException" in done.stderr and "rekognition:CreateCollection" in done.stderr, done.stderr
    listed = subprocess.run([*aws, "list-collections"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["CollectionIds"] == ["people"]


def test_limits_that_cannot_be_read_are_refused_at_start(tmp_path: Path) -> None:
    bad = new_credentials()
    with pytest.raises(RuntimeError, match=r"\[typo\] operations: 'Serch\*' names no Rekognition operation"):
        start_server(tmp_path / "home", extra_keys=f"\n[typo]\naws_access_key_id = {bad.access_key_id}\n"
                                                   f"aws_secret_access_key = {bad.secret_access_key}\n"
                                                   "operations = Serch*\n")
