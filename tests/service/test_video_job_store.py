"""The video job queue on disk: idempotent Start, the open-job limit, documents written whole,
and everything still there for the next server (another process)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from faceindex.service.errors import ServiceError
from faceindex.service.jobs import FACE_DETECTION, FACE_SEARCH, FAILED, IN_PROGRESS, SUCCEEDED, JobStore

VIDEO = {"S3Object": {"Bucket": "b", "Name": "clip.mp4"}}


def test_a_repeated_client_request_token_gives_the_same_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "service")
    request = {"Video": VIDEO, "ClientRequestToken": "tok-1"}
    first, created = store.submit(FACE_DETECTION, request, tmp_path / "clip.mp4")
    again, created_again = store.submit(FACE_DETECTION, dict(request), tmp_path / "clip.mp4")
    assert created and not created_again and again == first
    # The same token for the other kind of job is another job.
    other, _ = store.submit(FACE_SEARCH, {**request, "CollectionId": "c"}, tmp_path / "clip.mp4")
    assert other != first
    with pytest.raises(ServiceError) as e:
        store.submit(FACE_DETECTION, {**request, "JobTag": "changed"}, tmp_path / "clip.mp4")
    assert e.value.code == "IdempotentParameterMismatchException"
    # Without a token every Start is a new job.
    a, _ = store.submit(FACE_DETECTION, {"Video": VIDEO}, tmp_path / "clip.mp4")
    b, _ = store.submit(FACE_DETECTION, {"Video": VIDEO}, tmp_path / "clip.mp4")
    assert len({first, a, b}) == 3


def test_open_jobs_are_limited(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "service", max_open_jobs=2)
    jobs = [store.submit(FACE_DETECTION, {"Video": VIDEO}, tmp_path / "v")[0] for _ in range(2)]
    with pytest.raises(ServiceError) as e:
        store.submit(FACE_DETECTION, {"Video": VIDEO}, tmp_path / "v")
    assert e.value.code == "LimitExceededException"
    store.fail(jobs[0], "the video cannot be read")
    store.submit(FACE_DETECTION, {"Video": VIDEO}, tmp_path / "v")  # room again


def test_jobs_and_documents_outlive_the_process(tmp_path: Path) -> None:
    directory = tmp_path / "service"
    store = JobStore(directory)
    done, _ = store.submit(FACE_DETECTION, {"Video": VIDEO, "JobTag": "t"}, tmp_path / "a.mp4")
    failed, _ = store.submit(FACE_DETECTION, {"Video": VIDEO}, tmp_path / "b.mp4")
    waiting, _ = store.submit(FACE_SEARCH, {"Video": VIDEO, "CollectionId": "c"}, tmp_path / "c.mp4")
    store.succeed(done, {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": 0}]})
    store.fail(failed, "no video stream")
    store.close()
    # Another process (the next server) sees all three as they were left.
    script = (
        "import json, sys\n"
        "from faceindex.service.jobs import JobStore\n"
        "s = JobStore(sys.argv[1])\n"
        "print(json.dumps({j: [s.get(j).status, s.get(j).status_message] for j in sys.argv[2:]}))\n"
        "print(s.next_in_progress().job_id)\n"
        "print(json.dumps(s.document(sys.argv[2])))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(directory), done, failed, waiting],
                         capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    assert json.loads(out[0]) == {done: [SUCCEEDED, None], failed: [FAILED, "no video stream"],
                                  waiting: [IN_PROGRESS, None]}
    assert out[1] == waiting
    assert json.loads(out[2])["Faces"] == [{"Timestamp": 0}]
    # Owner-only, like the collections: job documents name faces and where they were seen.
    for path in (directory, directory / "jobs"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for path in (directory / "jobs.db", store.document_path(done)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list((directory / "jobs").glob(".*.tmp"))
