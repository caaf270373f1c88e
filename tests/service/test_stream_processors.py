"""Stream processors for face search through boto3: a Kinesis Video Stream ARN mapped (--stream-sources)
to a live TCP source streaming the shared clip at real-time pace, records in Rekognition's frame-record
format read back from moto's Kinesis on 127.0.0.1 by a boto3 consumer, the status transitions AWS
documents, tags by the processor's ARN, the errors, and a processor that survives a restart of the
server. Every wait is bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("av", reason="PyAV (the video extra) is not installed")

from aws_peers import ENV, aws_client, moto_server  # noqa: E402
from ops_helpers import error_of  # noqa: E402
from service_helpers import RunningServer, start_server  # noqa: E402

pytestmark = pytest.mark.slow
DataFile = Callable[[str], Path]
VIDEO_ARN = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/stage-camera/1510552593"
ROLE = "arn:aws:iam::000000000000:role/RekognitionStreams"
FACE_MATCH_THRESHOLD = 50.0  # as the stored-video tests search the clip (FMR 1.8e-4 per comparison)


def _status(rk: Any, name: str) -> str:
    return str(rk.describe_stream_processor(Name=name)["Status"])


def _wait_status(rk: Any, name: str, wanted: str, timeout_s: float = 120.0) -> list[str]:
    """Poll Describe until the status is `wanted`; every status seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        status = _status(rk, name)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == wanted:
            return seen
        assert time.monotonic() < deadline, f"{name} still {status} after {timeout_s} s (seen {seen})"
        time.sleep(0.2)


class Consumer:
    """A boto3 Kinesis consumer of the one shard of a stream, from its start."""

    def __init__(self, endpoint: str, stream: str) -> None:
        self.kinesis = aws_client("kinesis", endpoint)
        shard = self.kinesis.describe_stream(StreamName=stream)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        self.records: list[dict[str, Any]] = []

    def read_until(self, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done(self.records):
            assert time.monotonic() < deadline, f"not found in {len(self.records)} records within {timeout_s} s"
            answer = self.kinesis.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = answer["NextShardIterator"]
            self.records += [json.loads(r["Data"]) for r in answer["Records"]]
            if not answer["Records"]:
                time.sleep(0.3)


def _matched(face_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda records: any(m["Face"]["FaceId"] == face_id for r in records for f in r["FaceSearchResponse"]
                               for m in f["MatchedFaces"])


@pytest.mark.xfail(strict=False, reason="open regression since the default pack became dlib 2.0 (passed 1 of 4 runs on "
                   "2026-12-08): the processor's records carry no MatchedFaces for Lin-Manuel Miranda within 180 s, "
                   "even with his face indexed from a frame of the clip; processors judge at Similarity >= 80 "
                   "(FMR 1e-6, cosine 0.9667 on pack 2.0); being investigated, see issue 31's note")
def test_a_stream_processor_searches_a_live_stream_into_kinesis(tmp_path: Path, data_file: DataFile) -> None:
    from live_sender import ClipSender

    with moto_server() as moto, ClipSender(data_file("video/short_hamilton_clip.mp4"), plays=6, pause=0.5,
                                           accept_timeout=180.0) as sender:
        kinesis = aws_client("kinesis", moto)
        kinesis.create_stream(StreamName="faces", ShardCount=1)
        stream_arn = kinesis.describe_stream(StreamName="faces")["StreamDescription"]["StreamARN"]
        sources = tmp_path / "sources.json"
        sources.write_text(json.dumps({VIDEO_ARN: sender.url}))
        args = ["--kinesis-endpoint-url", moto, "--stream-sources", str(sources)]
        home = tmp_path / "home"
        server: RunningServer = start_server(home, extra_args=args, env=ENV)
        try:
            assert "Kinesis at " + moto in server.log() and "1 stream source," in server.log()
            rk = server.client()
            rk.create_collection(CollectionId="cast")
            lin = rk.index_faces(CollectionId="cast", ExternalImageId="lin", Image={
                "Bytes": data_file("images/face_recognition/lin-manuel-miranda.png").read_bytes()})
            lin_face = lin["FaceRecords"][0]["Face"]["FaceId"]
            request = {"Input": {"KinesisVideoStream": {"Arn": VIDEO_ARN}},
                       "Output": {"KinesisDataStream": {"Arn": stream_arn}},
                       "Settings": {"FaceSearch": {"CollectionId": "cast",
                                                   "FaceMatchThreshold": FACE_MATCH_THRESHOLD}},
                       "RoleArn": ROLE}
            created = rk.create_stream_processor(Name="stage", Tags={"site": "stage"}, **request)
            arn = created["StreamProcessorArn"]
            assert arn == "arn:aws:rekognition:us-east-1:000000000000:streamprocessor/stage"
            described = rk.describe_stream_processor(Name="stage")
            assert described["Status"] == "STOPPED" and described["Input"] == request["Input"]
            assert described["Settings"] == request["Settings"] and described["RoleArn"] == ROLE
            assert rk.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"site": "stage"}
            # The errors, as AWS names them.
            assert error_of(rk.create_stream_processor, Name="stage", **request)[0] == "ResourceInUseException"
            other = json.loads(json.dumps(request))
            other["Input"]["KinesisVideoStream"]["Arn"] = VIDEO_ARN.replace("stage-camera", "unknown")
            code, message, _ = error_of(rk.create_stream_processor, Name="other", **other)
            assert code == "InvalidParameterException" and "--stream-sources" in message
            missing = json.loads(json.dumps(request))
            missing["Settings"]["FaceSearch"]["CollectionId"] = "nobody"
            assert error_of(rk.create_stream_processor, Name="other", **missing)[0] == "ResourceNotFoundException"
            assert error_of(rk.stop_stream_processor, Name="stage")[0] == "ResourceInUseException"
            assert error_of(rk.describe_stream_processor, Name="nobody")[0] == "ResourceNotFoundException"

            # STOPPED -> STARTING -> RUNNING; records of the frames, Lin among the matched faces.
            assert rk.start_stream_processor(Name="stage")["SessionId"]
            assert _wait_status(rk, "stage", "RUNNING")[-2:] in (["STARTING", "RUNNING"], ["RUNNING"])
            assert error_of(rk.start_stream_processor, Name="stage")[0] == "ResourceInUseException"
            assert error_of(rk.delete_stream_processor, Name="stage")[0] == "ResourceInUseException"
            consumer = Consumer(moto, "faces")
            consumer.read_until(_matched(lin_face))
            record = consumer.records[-1]
            assert set(record) == {"InputInformation", "StreamProcessorInformation", "FaceSearchResponse"}
            assert record["InputInformation"]["KinesisVideo"]["StreamArn"] == VIDEO_ARN
            assert record["StreamProcessorInformation"] == {"Status": "RUNNING"}
            faces = [f for r in consumer.records for f in r["FaceSearchResponse"]]
            assert faces and all({"DetectedFace", "MatchedFaces"} == set(f) for f in faces)
            assert all(0 <= f["DetectedFace"]["BoundingBox"]["Left"] <= 1 for f in faces)
            matches = [m for f in faces for m in f["MatchedFaces"]]
            assert all(m["Similarity"] >= FACE_MATCH_THRESHOLD for m in matches)
            assert {m["Face"]["ExternalImageId"] for m in matches} == {"lin"}

            # A restart of the server: the processor was running, so it runs again.
            credentials = server.credentials
            assert server.stop() == 0, server.log()
            seen_before = len(consumer.records)
            server = start_server(home, extra_args=args, env=ENV, credentials=credentials)
            rk = server.client()
            _wait_status(rk, "stage", "RUNNING")
            consumer.read_until(lambda records: len(records) > seen_before + 5)

            # RUNNING -> STOPPING -> STOPPED; then it can be updated, listed, untagged and deleted.
            rk.stop_stream_processor(Name="stage")
            assert _wait_status(rk, "stage", "STOPPED", timeout_s=60)[-1] == "STOPPED"
            rk.update_stream_processor(Name="stage", DataSharingPreferenceForUpdate={"OptIn": False})
            assert rk.describe_stream_processor(Name="stage")["DataSharingPreference"] == {"OptIn": False}
            assert error_of(rk.update_stream_processor, Name="stage",
                            RegionsOfInterestForUpdate=[{"BoundingBox": {"Left": 0, "Top": 0, "Width": 1,
                                                                         "Height": 1}}])[0] == \
                "InvalidParameterException"
            assert rk.list_stream_processors(NextToken="")["StreamProcessors"] == [{"Name": "stage",
                                                                                      "Status": "STOPPED"}]
            rk.untag_resource(ResourceArn=arn, TagKeys=["site"])
            assert rk.list_tags_for_resource(ResourceArn=arn)["Tags"] == {}
            rk.delete_stream_processor(Name="stage")
            assert error_of(rk.describe_stream_processor, Name="stage")[0] == "ResourceNotFoundException"
            assert sender.error is None
        finally:
            assert server.stop() == 0, server.log()


def test_stream_processors_need_a_kinesis_endpoint(tmp_path: Path) -> None:
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps({VIDEO_ARN: "tcp://127.0.0.1:9"}))
    server = start_server(tmp_path / "home", extra_args=["--stream-sources", str(sources)])
    try:
        rk = server.client()
        rk.create_collection(CollectionId="cast")
        code, message, _ = error_of(
            rk.create_stream_processor, Name="p", Input={"KinesisVideoStream": {"Arn": VIDEO_ARN}},
            Output={"KinesisDataStream": {"Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/faces"}},
            Settings={"FaceSearch": {"CollectionId": "cast"}}, RoleArn=ROLE)
        assert code == "InvalidParameterException" and "--kinesis-endpoint-url" in message, message
        assert rk.list_stream_processors()["StreamProcessors"] == []
    finally:
        assert server.stop() == 0, server.log()
