"""Stored-video jobs through boto3: StartFaceSearch / StartFaceDetection on the shared clip from
--s3-root, a server stopped mid-job and started again (the job finishes, nothing lost), Get*
paged with MaxResults / NextToken and SortBy, idempotent ClientRequestToken, and the errors."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
pytest.importorskip("boto3", reason="boto3 (the test extra) is not installed")
from botocore.exceptions import ClientError  # noqa: E402
from service_helpers import start_server  # noqa: E402

pytestmark = pytest.mark.slow

LIN, ALEX = "lin-manuel-miranda.png", "alex-lacamoire.png"
VIDEO = {"S3Object": {"Bucket": "videos", "Name": "talks/hamilton.mp4"}}
# FMR 1.8e-4 per comparison (Similarity 50): about the default a photo search takes at this size.
FACE_MATCH_THRESHOLD = 50.0


def _error(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as e:
        call()
    return str(e.value.response["Error"]["Code"])


def _wait(client: Any, get: str, job_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response: dict[str, Any] = getattr(client, get)(JobId=job_id)
        if response["JobStatus"] != "IN_PROGRESS":
            return response
        assert time.monotonic() < deadline, f"{get} {job_id} still IN_PROGRESS after {timeout_s} s"
        time.sleep(1.0)


def _all_pages(client: Any, get: str, job_id: str, key: str, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    token = None
    for _ in range(1000):
        page = getattr(client, get)(JobId=job_id, MaxResults=7, **params, **({"NextToken": token} if token else {}))
        assert len(page[key]) <= 7
        entries.extend(page[key])
        token = page.get("NextToken")
        if not token:
            return entries
    raise AssertionError("pagination did not end")


def test_video_jobs_survive_a_restart_and_page(tmp_path: Path, data_file: Callable[[str], Path]) -> None:
    s3_root = tmp_path / "s3"
    (s3_root / "videos" / "talks").mkdir(parents=True)
    shutil.copyfile(data_file("video/short_hamilton_clip.mp4"), s3_root / "videos" / "talks" / "hamilton.mp4")
    home = tmp_path / "home"
    server = start_server(home, s3_root=s3_root)
    try:
        client = server.client()
        client.create_collection(CollectionId="cast")
        lin_face = None
        for person in (LIN, ALEX):
            data = data_file(f"images/face_recognition/{person}").read_bytes()
            faces = client.index_faces(CollectionId="cast", Image={"Bytes": data}, ExternalImageId=person)
            if person == LIN:
                lin_face = faces["FaceRecords"][0]["Face"]["FaceId"]
        search_id = client.start_face_search(Video=VIDEO, CollectionId="cast", ClientRequestToken="search-1",
                                             FaceMatchThreshold=FACE_MATCH_THRESHOLD, JobTag="hamilton")["JobId"]
        detect_id = client.start_face_detection(Video=VIDEO, ClientRequestToken="detect-1")["JobId"]
        # A retried Start is the same job; the same token with other parameters is refused.
        assert client.start_face_search(Video=VIDEO, CollectionId="cast", ClientRequestToken="search-1",
                                        FaceMatchThreshold=FACE_MATCH_THRESHOLD, JobTag="hamilton")["JobId"] == search_id
        assert _error(lambda: client.start_face_search(
            Video=VIDEO, CollectionId="cast", ClientRequestToken="search-1", FaceMatchThreshold=90.0)
        ) == "IdempotentParameterMismatchException"
        assert client.get_face_search(JobId=search_id)["JobStatus"] == "IN_PROGRESS"
        # Errors answered at Start, not as failed jobs later.
        assert _error(lambda: client.start_face_search(Video=VIDEO, CollectionId="nobody")) \
            == "ResourceNotFoundException"
        missing = {"S3Object": {"Bucket": "videos", "Name": "talks/none.mp4"}}
        assert _error(lambda: client.start_face_detection(Video=missing)) == "InvalidS3ObjectException"
        escape = {"S3Object": {"Bucket": "videos", "Name": "../../home/x"}}
        assert _error(lambda: client.start_face_detection(Video=escape)) == "InvalidS3ObjectException"
        assert _error(lambda: client.get_face_search(JobId="0" * 32)) == "ResourceNotFoundException"
        assert _error(lambda: client.get_face_detection(JobId=search_id)) == "ResourceNotFoundException"
        time.sleep(2.0)  # let the first job start, then stop the server under it
        assert server.stop() == 0
    finally:
        server.stop()

    restarted = start_server(home, s3_root=s3_root)
    try:
        client = restarted.client()
        search = _wait(client, "get_face_search", search_id)
        assert search["JobStatus"] == "SUCCEEDED", search.get("StatusMessage")
        assert search["JobTag"] == "hamilton" and search["VideoMetadata"]["FrameWidth"] > 0
        headers = search["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-faceindex-threshold-chosen-by"] == "fmr"
        assert float(headers["x-faceindex-threshold"]) > 0 and "dlib" in headers["x-faceindex-pack"]
        by_time = _all_pages(client, "get_face_search", search_id, "Persons")
        assert by_time == sorted(by_time, key=lambda p: (p["Timestamp"], p["Person"]["Index"]))
        by_index = _all_pages(client, "get_face_search", search_id, "Persons", SortBy="INDEX")
        assert by_index == sorted(by_time, key=lambda p: (p["Person"]["Index"], p["Timestamp"]))
        matched = {m["Face"]["FaceId"] for p in by_time for m in p.get("FaceMatches", [])}
        assert lin_face in matched, "Lin, in close-up for 4 s, was not matched"
        assert all(m["Similarity"] >= FACE_MATCH_THRESHOLD for p in by_time for m in p.get("FaceMatches", []))
        first = client.get_face_search(JobId=search_id, MaxResults=3)
        assert _error(lambda: client.get_face_search(JobId=search_id, NextToken=first["NextToken"],
                                                     SortBy="INDEX")) == "InvalidPaginationTokenException"
        assert _error(lambda: client.get_face_search(JobId=search_id, NextToken="bm90IGEgdG9rZW4=")) \
            == "InvalidPaginationTokenException"
        # Every track's search is in the collection's audit log under the job's id.
        detection = _wait(client, "get_face_detection", detect_id)
        assert detection["JobStatus"] == "SUCCEEDED"
        faces = _all_pages(client, "get_face_detection", detect_id, "Faces")
        assert len(faces) >= 20 and all(0 <= f["Face"]["BoundingBox"]["Left"] <= 1 for f in faces)
    finally:
        assert restarted.stop() == 0
    from faceindex import Collections

    with Collections(home).collection("cast") as collection:
        references = {entry.reference for entry in collection.audit_log()}
    assert search_id in references
