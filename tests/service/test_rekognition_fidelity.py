"""What existing boto3 programs trip on, each through boto3 against a real `faceindex serve`: FaceModelVersion
a dotted number, tags on collections, ids starting with '.', empty and made-up NextTokens, errors that
name no other tenant's collection nor an object address nor a server path, a photo given as a video."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ops_helpers import OBAMA, OBAMA_2, error_of, photo
from service_helpers import RunningServer, raw_request, signed_headers, start_server

# The service model's own pattern for FaceModelVersion ([0-9\.]+), and dlib's pack number 1.
MODEL_VERSION = re.compile(r"[0-9.]+")
DataFile = Callable[[str], Path]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, data_file: DataFile) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("fidelity")
    s3 = root / "s3"
    (s3 / "videos").mkdir(parents=True)
    shutil.copyfile(data_file(OBAMA), s3 / "videos" / "holiday.mp4")  # a JPEG, named as a video
    running = start_server(root / "home", s3_root=s3)
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log()


@pytest.fixture
def rk(server: RunningServer) -> Any:
    return server.client()


def test_face_model_version_is_a_dotted_number_naming_the_pack(rk: Any, server: RunningServer,
                                                                data_file: DataFile) -> None:
    from faceindex import FaceEngine
    from faceindex.rekognition_shapes import face_model_version

    pack = FaceEngine(pack="dlib").pack
    expected = face_model_version(pack)
    assert MODEL_VERSION.fullmatch(expected) and expected.startswith("1.")
    created = rk.create_collection(CollectionId="versions")
    assert created["FaceModelVersion"] == expected
    indexed = rk.index_faces(CollectionId="versions", Image=photo(data_file, OBAMA))
    assert indexed["FaceModelVersion"] == expected
    assert indexed["FaceRecords"][0]["Face"]["IndexFacesModelVersion"] == expected
    listed = rk.list_collections()
    assert listed["FaceModelVersions"][listed["CollectionIds"].index("versions")] == expected
    # The pack's own name stays where a Rekognition client does not look: a search's header, and
    # DescribeCollection's extra member (left out by boto3's parser, there for raw HTTP).
    searched = rk.search_faces_by_image(CollectionId="versions", Image=photo(data_file, OBAMA_2))
    assert searched["FaceModelVersion"] == expected
    assert searched["ResponseMetadata"]["HTTPHeaders"]["x-faceindex-pack"] == f"dlib {pack.version}"
    body = b'{"CollectionId": "versions"}'
    status, _, document = raw_request(server, body, signed_headers(server, "DescribeCollection", body))
    assert status == 200 and document["FaceModelVersion"] == expected
    assert document["FaceindexPack"] == f"dlib {pack.version}"
    # Data-driven: a new version of a listed pack maps without a code change, and keeps its pack number.
    from faceindex.types import PackRef

    assert face_model_version(PackRef("dlib", "2.0")) == "1.200"
    assert face_model_version(PackRef("dlib", "1.1")) == "1.101"
    assert face_model_version(PackRef("buffalo_l", "sha256:abc+def")).startswith("2.")
    unlisted = face_model_version(PackRef("my-pack", "sha256:0123"))
    assert MODEL_VERSION.fullmatch(unlisted) and int(unlisted.split(".")[0]) >= 1000
    assert face_model_version(PackRef("dlib", "1.1+bf16-unverified")) != face_model_version(PackRef("dlib", "1.1"))


def test_tags_are_kept_with_the_collection(rk: Any, server: RunningServer) -> None:
    rk.create_collection(CollectionId="tagged", Tags={"team": "a", "env": "test"})
    arn = "arn:aws:rekognition:us-east-1:000000000000:collection/tagged"
    assert rk.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"team": "a", "env": "test"}
    rk.tag_resource(ResourceArn=arn, Tags={"team": "b", "cost-center": "42"})
    rk.untag_resource(ResourceArn=arn, TagKeys=["env", "not-there"])
    # The form CreateCollection answers (no "arn:") names it too.
    described = rk.describe_collection(CollectionId="tagged")["CollectionARN"]
    assert rk.list_tags_for_resource(ResourceArn=described)["Tags"] == {"team": "b", "cost-center": "42"}
    folder = server.home / "collections" / "tagged"
    assert (folder / "tags.json").stat().st_mode & 0o077 == 0  # stored with the collection, private
    code, message, _ = error_of(rk.tag_resource, ResourceArn=arn.replace("tagged", "nobody"), Tags={"a": "b"})
    assert code == "ResourceNotFoundException" and "nobody" in message
    assert error_of(rk.list_tags_for_resource, ResourceArn="arn:aws:s3:::bucket/key")[0] == \
        "InvalidParameterException"
    assert error_of(rk.tag_resource, ResourceArn=arn, Tags={f"k{i}": "v" for i in range(49)})[0] == \
        "ServiceQuotaExceededException"
    rk.delete_collection(CollectionId="tagged")
    rk.create_collection(CollectionId="tagged")  # the tags went with the collection
    assert rk.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}


def test_ids_starting_with_a_dot(rk: Any, data_file: DataFile) -> None:
    for collection_id in (".hidden", ".", ".."):
        rk.create_collection(CollectionId=collection_id)
        rk.index_faces(CollectionId=collection_id, Image=photo(data_file, OBAMA_2))
        assert rk.describe_collection(CollectionId=collection_id)["FaceCount"] == 1
    assert {".hidden", ".", ".."} <= set(rk.list_collections()["CollectionIds"])
    for collection_id in (".hidden", ".", ".."):
        rk.delete_collection(CollectionId=collection_id)
    assert not {".hidden", ".", ".."} & set(rk.list_collections()["CollectionIds"])


def test_an_empty_next_token_is_the_first_page_and_a_made_up_one_is_refused(rk: Any, data_file: DataFile) -> None:
    for i in range(3):
        rk.create_collection(CollectionId=f"page-{i}")
    rk.index_faces(CollectionId="page-0", Image=photo(data_file, OBAMA))
    rk.create_user(CollectionId="page-0", UserId="u1")
    assert rk.list_collections(NextToken="")["CollectionIds"] == rk.list_collections()["CollectionIds"]
    assert len(rk.list_faces(CollectionId="page-0", NextToken="")["Faces"]) == 1
    assert [u["UserId"] for u in rk.list_users(CollectionId="page-0", NextToken="")["Users"]] == ["u1"]
    # Paging with the tokens given walks every id once; one made up (or cut) is refused.
    seen, token = [], None
    while True:
        page = rk.list_collections(MaxResults=1, **({"NextToken": token} if token else {}))
        seen += page["CollectionIds"]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == sorted(seen) and {"page-0", "page-1", "page-2"} <= set(seen)
    first = rk.list_collections(MaxResults=1)["NextToken"]
    for made_up in ("page-0", "zzz", first[:-1], first + "0"):
        assert error_of(rk.list_collections, NextToken=made_up)[0] == "InvalidPaginationTokenException", made_up


def test_errors_name_no_other_collection_no_address_and_no_path(rk: Any, server: RunningServer) -> None:
    rk.create_collection(CollectionId="someone-elses")
    code, message, _ = error_of(rk.describe_collection, CollectionId="mine")
    assert code == "ResourceNotFoundException"
    assert message == "The collection id: mine does not exist"
    for call, params in ((rk.index_faces, {"Image": {"Bytes": b"GIF89a but not"}}),
                         (rk.search_faces_by_image, {"Image": {"Bytes": b"\x00" * 64}})):
        code, message, _ = error_of(call, CollectionId="someone-elses", **params)
        assert code == "InvalidImageFormatException"
        assert "object at 0x" not in message and "BytesIO" not in message, message
    assert "someone-elses" not in error_of(rk.search_faces, CollectionId="mine",
                                           FaceId="00000000-0000-4000-8000-000000000000")[1]


def test_a_photo_given_as_a_video_fails_clearly_without_server_paths(rk: Any, server: RunningServer) -> None:
    job = rk.start_face_detection(Video={"S3Object": {"Bucket": "videos", "Name": "holiday.mp4"}})["JobId"]
    deadline = time.monotonic() + 120
    while (answer := rk.get_face_detection(JobId=job))["JobStatus"] == "IN_PROGRESS":
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.5)
    assert answer["JobStatus"] == "FAILED"
    message = answer["StatusMessage"]
    assert "still image" in message and "s3://videos/holiday.mp4" in message, message
    assert str(server.home.parent) not in message and "/s3/" not in message, message


def test_a_notification_channel_without_an_sns_endpoint_is_refused(rk: Any) -> None:
    channel = {"SNSTopicArn": "arn:aws:sns:us-east-1:000000000000:AmazonRekognitionJobs",
               "RoleArn": "arn:aws:iam::000000000000:role/rekognition"}
    video = {"S3Object": {"Bucket": "videos", "Name": "holiday.mp4"}}
    rk.create_collection(CollectionId="channel")
    for start, params in ((rk.start_face_detection, {}), (rk.start_face_search, {"CollectionId": "channel"})):
        code, message, _ = error_of(start, Video=video, NotificationChannel=channel, **params)
        assert code == "InvalidParameterException" and "--sns-endpoint-url" in message, message


def test_the_aws_cli_tags_a_dotted_collection_and_reads_its_model_version(server: RunningServer,
                                                                          tmp_path: Path) -> None:
    from test_aws_cli import aws, ok

    created = ok(aws(server, tmp_path, "create-collection", "--collection-id", ".cli", "--tags", "team=cli"))
    assert MODEL_VERSION.fullmatch(created["FaceModelVersion"])
    arn = "arn:aws:rekognition:us-east-1:000000000000:collection/.cli"
    ok(aws(server, tmp_path, "tag-resource", "--resource-arn", arn, "--tags", "stage=test"))
    assert ok(aws(server, tmp_path, "list-tags-for-resource", "--resource-arn", arn))["Tags"] == {
        "team": "cli", "stage": "test"}
    listed = ok(aws(server, tmp_path, "list-collections"))
    assert listed["FaceModelVersions"][listed["CollectionIds"].index(".cli")] == created["FaceModelVersion"]
    ok(aws(server, tmp_path, "delete-collection", "--collection-id", ".cli"))
