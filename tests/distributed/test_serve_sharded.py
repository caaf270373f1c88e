"""`faceindex serve --ray local --shards 2` driven with boto3, against a plain `faceindex serve`
given the same calls: the same answers (face ids aside: each collection makes its own), the same
X-Faceindex-* headers; a shard that is gone makes a search fail as ServiceUnavailable naming it.

One Ray instance (the server's) and two servers for the module: Ray starts slowly on 2 cores.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ray_helpers import LOOPBACK, QUIET, ray

import service_helpers
from ops_helpers import BIDEN, BIDEN_2, GROUP, OBAMA, OBAMA_2, OBAMA_AND_BIDEN, OBAMA_PROBE, error_of, \
    faceindex_headers, photo
from service_helpers import RunningServer, start_server

pytest.importorskip("boto3", reason="the serve extra is not installed")

_RAY_AT = re.compile(r"served through the Ray cluster at (\S+) ")
ONE_TRY = {"mode": "standard", "total_max_attempts": 1}  # no retry: the first answer is the one checked
# The SDK's usual retries ("max_attempts" would count retries, not attempts): a write that meets the
# 3 s shard timeout on a busy machine is answered 503 and sent again, and must be stored once.
RETRIES = {"mode": "standard", "total_max_attempts": 4}
PHOTOS = {"obama": OBAMA, "obama2": OBAMA_2, "biden": BIDEN, "biden2": BIDEN_2, "pair": OBAMA_AND_BIDEN,
          "group": GROUP}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, data_file: Callable[[str], Path]
            ) -> Iterator[tuple[RunningServer, RunningServer]]:
    """(sharded, plain): `serve --ray local --shards 2` (a Ray instance inside the server, which this
    process joins as a driver at the address the server prints, to end a shard) and a plain
    `serve`, reading S3Objects from one folder that holds a short video."""
    monkey = pytest.MonkeyPatch()
    monkey.setattr(service_helpers, "START_TIMEOUT_S", 180.0)  # Ray's start-up on 2 busy cores
    temp = tempfile.mkdtemp(prefix="fi-sv-", dir="/tmp")  # the server's Ray session files, private
    monkey.setenv("RAY_TMPDIR", temp)
    root = tmp_path_factory.mktemp("serve-sharded")
    s3_root = root / "s3"
    (s3_root / "videos").mkdir(parents=True)
    shutil.copyfile(data_file("video/short_hamilton_clip.mp4"), s3_root / "videos" / "hamilton.mp4")
    started: list[RunningServer] = []
    try:
        started.append(start_server(root / "sharded", s3_root=s3_root,
                                    extra_args=["--ray", "local", "--shards", "2", "--shard-timeout", "3"]))
        address = _RAY_AT.search(started[0].log())
        assert address is not None, started[0].log()
        started.append(start_server(root / "plain", s3_root=s3_root))
        ray.init(address=address.group(1), namespace="faceindex-tests", **QUIET)
        # The server's own Ray instance listens on loopback only.
        assert address.group(1).startswith(f"{LOOPBACK}:"), address.group(1)
        assert {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]} == {LOOPBACK}
        try:
            yield started[0], started[1]
        finally:
            ray.shutdown()
    finally:
        codes = [server.stop() for server in started]
        monkey.undo()
        shutil.rmtree(temp, ignore_errors=True)
    assert codes == [0, 0], "\n".join(server.log() for server in started)


def _both(servers: tuple[RunningServer, RunningServer], operation: str, **params: Any) -> tuple[Any, Any]:
    sharded, plain = (server.client(retries=RETRIES) for server in servers)
    return getattr(sharded, operation)(**params), getattr(plain, operation)(**params)


def _face(face: dict[str, Any]) -> tuple[Any, ...]:
    """A Face as answered, less its ids (FaceId, ImageId: each collection makes its own)."""
    return (face.get("ExternalImageId"), face.get("UserId"), face["Confidence"],
            tuple(round(face["BoundingBox"][k], 6) for k in ("Width", "Height", "Left", "Top")))


def _listing(client: Any, collection_id: str, **params: Any) -> tuple[list[dict[str, Any]], list[int]]:
    faces, sizes, token = [], [], None
    while True:
        page = client.list_faces(CollectionId=collection_id, MaxResults=2, **({"NextToken": token} if token else {}),
                                 **params)
        faces += page["Faces"]
        sizes.append(len(page["Faces"]))
        if (token := page.get("NextToken")) is None:
            return faces, sizes


def test_a_sharded_endpoint_answers_as_a_plain_one(servers: tuple[RunningServer, RunningServer],
                                                   data_file: Callable[[str], Path]) -> None:
    sharded_server, _ = servers
    got, expected = _both(servers, "create_collection", CollectionId="people")
    assert got["FaceModelVersion"] == expected["FaceModelVersion"]
    assert (sharded_server.home / "sharded" / "people" / "layout.json").is_file()
    ids: list[dict[str, str]] = [{}, {}]
    for name, path in PHOTOS.items():
        got, expected = _both(servers, "index_faces", CollectionId="people", Image=photo(data_file, path),
                              ExternalImageId=name)
        assert [_face(r["Face"]) for r in got["FaceRecords"]] == [_face(r["Face"]) for r in expected["FaceRecords"]]
        assert [r["FaceDetail"] for r in got["FaceRecords"]] == [r["FaceDetail"] for r in expected["FaceRecords"]]
        for side, answer in enumerate((got, expected)):
            ids[side].update({f"{name}-{i}": r["Face"]["FaceId"] for i, r in enumerate(answer["FaceRecords"])})
    names = [{v: k for k, v in side.items()} for side in ids]
    sharded, plain = (server.client(retries=ONE_TRY) for server in servers)
    # Paged listing across the shards: the same faces (with their ratio boxes: image sizes kept), 2 a page.
    (got_faces, got_sizes), (expected_faces, _) = _listing(sharded, "people"), _listing(plain, "people")
    assert len(got_faces) == len(ids[0]) > 8 and set(got_sizes[:-1]) == {2}
    assert sorted(map(_face, got_faces)) == sorted(map(_face, expected_faces))
    assert [f["FaceId"] for f in got_faces] == sorted(f["FaceId"] for f in got_faces)
    code, message, status = error_of(sharded.list_faces, CollectionId="people", NextToken="g'nope")
    assert (code, status) == ("InvalidPaginationTokenException", 400)

    def same_search(operation: str, **params: Any) -> None:
        got = getattr(sharded, operation)(CollectionId="people", **params)
        expected = getattr(plain, operation)(CollectionId="people", **params)
        assert [(names[0][m["Face"]["FaceId"]], m["Similarity"]) for m in got["FaceMatches"]] == \
            [(names[1][m["Face"]["FaceId"]], m["Similarity"]) for m in expected["FaceMatches"]]
        assert faceindex_headers(got) == faceindex_headers(expected)
        assert len(faceindex_headers(got)) >= 4

    same_search("search_faces_by_image", Image=photo(data_file, OBAMA_PROBE), MaxFaces=5)
    same_search("search_faces_by_image", Image=photo(data_file, OBAMA_PROBE), MaxFaces=5, FaceMatchThreshold=40.0)
    got = sharded.search_faces(CollectionId="people", FaceId=ids[0]["biden-0"], MaxFaces=4, FaceMatchThreshold=0.0)
    expected = plain.search_faces(CollectionId="people", FaceId=ids[1]["biden-0"], MaxFaces=4, FaceMatchThreshold=0.0)
    assert [(names[0][m["Face"]["FaceId"]], m["Similarity"]) for m in got["FaceMatches"]] == \
        [(names[1][m["Face"]["FaceId"]], m["Similarity"]) for m in expected["FaceMatches"]]
    assert faceindex_headers(got) == faceindex_headers(expected)

    # Users: faces from any shard are associated (moved to the user's shard); the same answers.
    for client in (sharded, plain):
        for user in ("obama", "biden", "nobody"):
            client.create_user(CollectionId="people", UserId=user)
    for user, faces in (("obama", ["obama-0", "obama2-0", "pair-1", "biden2-0"]),
                        ("biden", ["biden-0", "biden2-0", "pair-0", "obama-0"])):
        answers = [client.associate_faces(CollectionId="people", UserId=user, FaceIds=[ids[side][f] for f in faces],
                                          UserMatchThreshold=40.0) for side, client in enumerate((sharded, plain))]
        assert [[names[side][a["FaceId"]] for a in answer["AssociatedFaces"]] for side, answer in
                enumerate(answers)] == [[names[1][a["FaceId"]] for a in answers[1]["AssociatedFaces"]]] * 2
        assert [[(names[side][u["FaceId"]], u["Reasons"], u.get("UserId"), u.get("Confidence"))
                 for u in answer["UnsuccessfulFaceAssociations"]] for side, answer in enumerate(answers)] == \
            [[(names[1][u["FaceId"]], u["Reasons"], u.get("UserId"), u.get("Confidence"))
              for u in answers[1]["UnsuccessfulFaceAssociations"]]] * 2
        assert faceindex_headers(answers[0]) == faceindex_headers(answers[1])
    got, expected = _both(servers, "list_users", CollectionId="people", MaxResults=2)
    assert got == {**expected, "ResponseMetadata": got["ResponseMetadata"]}
    for user in ("obama", "biden"):
        (got_faces, _), (expected_faces, _) = (_listing(c, "people", UserId=user) for c in (sharded, plain))
        assert sorted(map(_face, got_faces)) == sorted(map(_face, expected_faces)) != []
    got, expected = _both(servers, "search_users_by_image", CollectionId="people", Image=photo(data_file, OBAMA_PROBE))
    assert got["UserMatches"] == expected["UserMatches"] and got["UserMatches"][0]["User"]["UserId"] == "obama"
    assert faceindex_headers(got) == faceindex_headers(expected)
    got, expected = _both(servers, "search_users", CollectionId="people", UserId="biden", UserMatchThreshold=0.0)
    assert got["UserMatches"] == expected["UserMatches"] and faceindex_headers(got) == faceindex_headers(expected)

    got, expected = _both(servers, "describe_collection", CollectionId="people")
    assert (got["FaceCount"], got["UserCount"]) == (expected["FaceCount"], expected["UserCount"]) == (len(ids[0]), 3)
    # DeleteFaces: a user's face is kept (Rekognition's rule), the others go.
    answers = [client.delete_faces(CollectionId="people", FaceIds=[ids[side]["obama-0"], ids[side]["group-0"]])
               for side, client in enumerate((sharded, plain))]
    assert [[names[side][f] for f in a["DeletedFaces"]] for side, a in enumerate(answers)] == [["group-0"]] * 2
    assert [[(names[side][u["FaceId"]], u["Reasons"], u.get("UserId")) for u in a["UnsuccessfulFaceDeletions"]]
            for side, a in enumerate(answers)] == [[("obama-0", ["ASSOCIATED_TO_AN_EXISTING_USER"], "obama")]] * 2
    got, expected = _both(servers, "list_collections")
    assert got["CollectionIds"] == expected["CollectionIds"] == ["people"]
    _both(servers, "delete_collection", CollectionId="people")
    assert not (sharded_server.home / "sharded" / "people").exists()
    code, _, status = error_of(sharded.describe_collection, CollectionId="people")
    assert (code, status) == ("ResourceNotFoundException", 400)


def test_a_video_face_search_on_a_sharded_collection(servers: tuple[RunningServer, RunningServer],
                                                      data_file: Callable[[str], Path]) -> None:
    pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    clients = [server.client(retries=ONE_TRY) for server in servers]
    jobs = []
    for client in clients:
        client.create_collection(CollectionId="cast")
        for person in ("lin-manuel-miranda.png", "alex-lacamoire.png"):
            image = {"Bytes": data_file(f"images/face_recognition/{person}").read_bytes()}
            client.index_faces(CollectionId="cast", Image=image, ExternalImageId=person)
        jobs.append(client.start_face_search(Video={"S3Object": {"Bucket": "videos", "Name": "hamilton.mp4"}},
                                             CollectionId="cast", FaceMatchThreshold=50.0)["JobId"])
    answers = []
    for client, job in zip(clients, jobs):
        deadline = time.monotonic() + 600
        while (answer := client.get_face_search(JobId=job, MaxResults=1000))["JobStatus"] == "IN_PROGRESS":
            assert time.monotonic() < deadline, "the face search job did not end in 600 s"
            time.sleep(1.0)
        assert answer["JobStatus"] == "SUCCEEDED", answer.get("StatusMessage")
        answers.append(answer)

    def persons(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(p["Timestamp"], p["Person"]["Index"],
                 [(m["Face"]["ExternalImageId"], m["Similarity"]) for m in p.get("FaceMatches", [])])
                for p in answer["Persons"]]

    assert persons(answers[0]) == persons(answers[1])
    assert any(matches for _, _, matches in persons(answers[0]))
    assert faceindex_headers(answers[0]) == faceindex_headers(answers[1]) != {}


def test_a_shard_that_is_gone_is_named_not_hidden(servers: tuple[RunningServer, RunningServer],
                                                  data_file: Callable[[str], Path]) -> None:
    setup = servers[0].client(retries=RETRIES)
    setup.create_collection(CollectionId="fragile")
    for name in ("obama", "biden", "group"):
        setup.index_faces(CollectionId="fragile", Image=photo(data_file, PHOTOS[name]), ExternalImageId=name)
    assert setup.search_faces_by_image(CollectionId="fragile", Image=photo(data_file, OBAMA_PROBE))["FaceMatches"]
    sharded = servers[0].client(retries=ONE_TRY)
    # The server's shard actors are named in its namespace; one is ended for good (no restart).
    victim = ray.get_actor("faceindex-serve:fragile/shard-001", namespace="faceindex-serve")
    ray.kill(victim, no_restart=True)
    code, message, status = error_of(sharded.search_faces_by_image, CollectionId="fragile",
                                     Image=photo(data_file, OBAMA_PROBE))
    assert (code, status) == ("ServiceUnavailable", 503)
    assert "shard(s) [1] of 'fragile' did not answer within 3.0 s" in message
    code, message, status = error_of(sharded.list_faces, CollectionId="fragile")
    assert (code, status) == ("ServiceUnavailable", 503) and "[1]" in message
    # The other collections, and the server, are unharmed.
    assert servers[0].alive()
    assert sharded.describe_collection(CollectionId="fragile")["FaceCount"] >= 3  # read from the files


def test_an_index_faces_sent_again_by_the_sdk_is_stored_once(servers: tuple[RunningServer, RunningServer],
                                                             data_file: Callable[[str], Path]) -> None:
    """An SDK's retry carries its call's amz-sdk-invocation-id: two sends of one IndexFaces (as after a
    503 whose write landed) store the faces once and answer the same; another call stores them anew."""
    client = servers[0].client(retries=RETRIES)
    client.create_collection(CollectionId="retried")
    sent_ids: list[str] = []

    def one_invocation(context: dict[str, Any], **_: Any) -> None:
        context.setdefault("retries", {})["invocation-id"] = "9d6a4c1e-0000-4000-8000-00000000abcd"

    def record(request: Any, **_: Any) -> None:
        value = request.headers["amz-sdk-invocation-id"]
        sent_ids.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-call.rekognition.IndexFaces", one_invocation)
    client.meta.events.register("before-send.rekognition.IndexFaces", record)
    answers = [client.index_faces(CollectionId="retried", Image=photo(data_file, OBAMA_AND_BIDEN),
                                  ExternalImageId="pair") for _ in range(2)]
    assert sent_ids == ["9d6a4c1e-0000-4000-8000-00000000abcd"] * 2
    assert [r["Face"]["FaceId"] for r in answers[0]["FaceRecords"]] == \
        [r["Face"]["FaceId"] for r in answers[1]["FaceRecords"]] != []
    assert answers[0]["FaceRecords"] == answers[1]["FaceRecords"]
    faces = len(answers[0]["FaceRecords"])
    assert len(client.list_faces(CollectionId="retried")["Faces"]) == faces
    fresh = servers[0].client(retries=RETRIES).index_faces(CollectionId="retried",
                                                          Image=photo(data_file, OBAMA_AND_BIDEN))
    assert len(fresh["FaceRecords"]) == faces
    assert len(client.list_faces(CollectionId="retried")["Faces"]) == 2 * faces
    client.delete_collection(CollectionId="retried")


def test_a_server_without_ray_names_the_fix(servers: tuple[RunningServer, RunningServer]) -> None:
    from faceindex import FaceEngine
    from faceindex.distributed import ShardedCollection

    plain_server = servers[1]
    ShardedCollection.create(plain_server.home, "elsewhere", 2, FaceEngine(pack="dlib").pack).close()
    plain = plain_server.client(retries=ONE_TRY)
    assert "elsewhere" in plain.list_collections()["CollectionIds"]
    assert plain.describe_collection(CollectionId="elsewhere")["FaceCount"] == 0
    code, message, status = error_of(plain.list_faces, CollectionId="elsewhere")
    assert (code, status) == ("ResourceNotReadyException", 400)
    assert "--ray ADDRESS" in message
    code, _, _ = error_of(plain.create_collection, CollectionId="elsewhere")
    assert code == "ResourceAlreadyExistsException"


def test_shards_without_ray_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "faceindex.cli", "serve", "--home", str(tmp_path), "--no-auth",
                           "--port", "0", "--shards", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "--shards needs --ray ADDRESS" in done.stderr
