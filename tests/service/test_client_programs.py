"""Real client programs as tests: programs written in the style of AWS's published Python examples for
Rekognition faces (tests/service/clients/: collections and faces, detect and compare, stored video
with SNS -> SQS), run unchanged as separate processes against `faceindex serve`, with only the
endpoints set the way boto3 reads them (AWS_ENDPOINT_URL_REKOGNITION, AWS_ENDPOINT_URL_S3 / _SNS /
_SQS for moto's server on 127.0.0.1) and photos and the clip from the shared data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aws_peers import aws_client, cut_clip, moto_server
from ops_helpers import BIDEN, OBAMA, OBAMA_2, OBAMA_AND_BIDEN, OBAMA_PROBE
from service_helpers import RunningServer, start_server

DataFile = Callable[[str], Path]
CLIENTS = Path(__file__).parent / "clients"
LIN = "images/face_recognition/lin-manuel-miranda.png"


def run_client(program: str, server: RunningServer, moto: str, *args: str, timeout: float = 600) -> list[dict[str, Any]]:
    """The program's JSON lines; it must exit 0. Credentials: the server's key pair (moto takes any)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=server.credentials.access_key_id,
               AWS_SECRET_ACCESS_KEY=server.credentials.secret_access_key, AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL_REKOGNITION=server.endpoint_url, AWS_ENDPOINT_URL_S3=moto,
               AWS_ENDPOINT_URL_SNS=moto, AWS_ENDPOINT_URL_SQS=moto, AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    done = subprocess.run([sys.executable, str(CLIENTS / program), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    assert done.returncode == 0, f"{program} failed:\n{done.stdout}\n{done.stderr}"
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def steps(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["step"] == name]


def test_image_programs_against_faceindex_and_moto_s3(tmp_path: Path, data_file: DataFile) -> None:
    with moto_server() as moto:
        s3 = aws_client("s3", moto)
        s3.create_bucket(Bucket="photos")
        for name in (OBAMA, OBAMA_2, BIDEN, OBAMA_PROBE, OBAMA_AND_BIDEN):
            s3.upload_file(str(data_file(name)), "photos", Path(name).name)
        server = start_server(tmp_path / "home", extra_args=["--s3-endpoint-url", moto],
                              env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        try:
            lines = run_client("faces_in_a_collection.py", server, moto, "photos", "from-s3", "obama.jpg",
                               "obama2.jpg", "biden.jpg", "--search", "obama1.jpg")
            assert steps(lines, "create_collection")[0]["arn"].endswith(":collection/from-s3")
            indexed = steps(lines, "indexed")
            assert [line["photo"] for line in indexed] == ["obama.jpg", "obama2.jpg", "biden.jpg"]
            assert sorted(steps(lines, "list_faces")[0]["faces"]) == sorted(line["face_id"] for line in indexed)
            described = steps(lines, "describe_collection")
            assert described[0]["faces"] == 3 and described[-1] == {"step": "describe_collection",
                                                                     "missing": "from-s3"}
            matches = steps(lines, "search_faces_by_image")[0]["matches"]
            assert {m["external"] for m in matches} == {"obama.jpg", "obama2.jpg"}
            similarities = [m["similarity"] for m in matches]
            assert similarities == sorted(similarities, reverse=True) and len(set(similarities)) == len(similarities)

            lines = run_client("detect_and_compare_faces.py", server, moto, "photos", "obama_and_biden.jpg",
                               "obama1.jpg", "obama_and_biden.jpg")
            faces = steps(lines, "face")
            assert steps(lines, "detected")[0]["faces"] == len(faces) >= 2
            assert all(0 < f["confidence"] <= 100 and f["landmarks"] for f in faces)
            compared = steps(lines, "compared")[0]
            assert compared["matched"] == 1 and compared["matched"] + compared["unmatched"] == len(faces)
        finally:
            assert server.stop() == 0, server.log()


@pytest.mark.slow
def test_the_stored_video_program_waits_on_sns_and_sqs(tmp_path: Path, data_file: DataFile) -> None:
    s3_root = tmp_path / "s3"
    (s3_root / "videos").mkdir(parents=True)
    # The clip's first 5.5 s (its third shot, from 3.6 s, is Lin in close-up): jobs that do not keep the
    # 2 cores long.
    cut_clip(data_file("video/short_hamilton_clip.mp4"), s3_root / "videos" / "hamilton.mp4", 5.5)
    with moto_server() as moto:
        server = start_server(tmp_path / "home", s3_root=s3_root, extra_args=["--sns-endpoint-url", moto],
                              env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        try:
            rk = server.client()
            rk.create_collection(CollectionId="cast")
            rk.index_faces(CollectionId="cast", ExternalImageId="lin", Image={"Bytes": data_file(LIN).read_bytes()})
            lines = run_client("stored_video_faces.py", server, moto, "videos", "hamilton.mp4", "cast",
                               "arn:aws:iam::123456789012:role/RekognitionSNS")
            started = steps(lines, "started")
            notified = steps(lines, "notification")
            # Each job's completion came through SNS -> SQS, in Rekognition's words.
            assert [(n["job_id"], n["status"]) for n in notified] == [(s["job_id"], "SUCCEEDED") for s in started]
            assert [n["api"] for n in notified] == ["FACE_DETECTION", "FACE_SEARCH"]
            assert notified[0]["video"] == {"S3ObjectName": "hamilton.mp4", "S3Bucket": "videos"}
            assert notified[0]["tag"] == "faces"
            assert steps(lines, "faces")[0]["count"] > 0
            persons = steps(lines, "persons")[0]["persons"]
            # Persons, as AWS documents GetFaceSearch: those whose face matched, each with its matches.
            assert persons and all(p["faces"] == ["lin"] for p in persons)
            assert all(s >= 50 for p in persons for s in p["similarity"])
        finally:
            assert server.stop() == 0, server.log()
    shutil.rmtree(s3_root)
