"""Video jobs (StartFaceDetection / StartFaceSearch) kept in the home directory, so that a
restart of the server loses no queued or finished job.

    <home>/service/jobs.db            one row per job: its request, status, times (SQLite, WAL, synchronous=FULL)
    <home>/service/jobs/<job id>.json the finished job's document (GetFaceDetection / GetFaceSearch shape)

A job is IN_PROGRESS from Start until its document is on disk (then SUCCEEDED) or it
fails (FAILED, with the reason). A server stopped mid-job leaves it IN_PROGRESS, and the
next server runs it again from the start: a document is written whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceindex.collection import permissions
from faceindex.paths import fsync_directory
from faceindex.service.errors import ServiceError
from faceindex.service.private_database import PrivateDatabase

IN_PROGRESS, SUCCEEDED, FAILED = "IN_PROGRESS", "SUCCEEDED", "FAILED"
FACE_DETECTION, FACE_SEARCH = "FaceDetection", "FaceSearch"
# Rekognition allows 20 concurrent stored-video jobs per account by default; so do we.
DEFAULT_MAX_OPEN_JOBS = 20

_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    client_token TEXT,
    request_digest TEXT NOT NULL,
    request TEXT NOT NULL,
    video_path TEXT NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    UNIQUE (kind, client_token)
)"""


@dataclass(frozen=True)
class Job:
    job_id: str
    kind: str  # FACE_DETECTION or FACE_SEARCH
    request: dict[str, Any]  # the Start request's parameters
    video_path: Path  # the file the job reads (inside the S3 root, or a copy fetched at Start)
    status: str
    status_message: str | None
    created_at: float
    finished_at: float | None


def request_digest(kind: str, request: dict[str, Any]) -> str:
    """What makes two Start requests the same job (ClientRequestToken idempotency)."""
    fields = {k: v for k, v in request.items() if k != "ClientRequestToken"}
    return hashlib.sha256(json.dumps([kind, fields], sort_keys=True, default=str).encode()).hexdigest()


class JobStore:
    def __init__(self, directory: Path, max_open_jobs: int = DEFAULT_MAX_OPEN_JOBS) -> None:
        self.directory = Path(directory)
        self.documents = self.directory / "jobs"
        permissions.ensure_private_dir(self.directory)
        permissions.ensure_private_dir(self.documents)
        self.db_path = self.directory / "jobs.db"
        self.max_open_jobs = max_open_jobs
        self._db = PrivateDatabase(self.db_path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def submit(self, kind: str, request: dict[str, Any], video_path: Path) -> tuple[str, bool]:
        """(job id, created): a new IN_PROGRESS job, or the job an earlier request with the same
        ClientRequestToken made (IdempotentParameterMismatchException if its parameters differ)."""
        token = request.get("ClientRequestToken")
        digest = request_digest(kind, request)
        with self._db.transaction() as conn:
            if token is not None:
                row = conn.execute("SELECT job_id, request_digest FROM jobs WHERE kind = ? AND client_token = ?",
                                   (kind, token)).fetchone()
                if row is not None:
                    if row[1] != digest:
                        raise ServiceError("IdempotentParameterMismatchException",
                                           f"ClientRequestToken {token!r} was used before with other parameters")
                    return str(row[0]), False
            open_jobs = conn.execute("SELECT count(*) FROM jobs WHERE status = ?", (IN_PROGRESS,)).fetchone()[0]
            if open_jobs >= self.max_open_jobs:
                raise ServiceError("LimitExceededException",
                                   f"{open_jobs} video jobs are in progress (at most {self.max_open_jobs}); "
                                   "wait for one to finish")
            job_id = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO jobs (job_id, kind, client_token, request_digest, request, video_path, status, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, token, digest, json.dumps(request), str(video_path), IN_PROGRESS, time.time()))
        return job_id, True

    def get(self, job_id: str) -> Job | None:
        rows = self._db.query("SELECT job_id, kind, request, video_path, status, status_message, created_at, finished_at"
                              " FROM jobs WHERE job_id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def next_in_progress(self, after: set[str] | None = None) -> Job | None:
        """The oldest job still to run (skipping those in `after`: already being run)."""
        rows = self._db.query("SELECT job_id, kind, request, video_path, status, status_message, created_at, finished_at"
                              " FROM jobs WHERE status = ? ORDER BY created_at, job_id", (IN_PROGRESS,))
        for row in rows:
            if not after or row[0] not in after:
                return _job(row)
        return None

    def document_path(self, job_id: str) -> Path:
        return self.documents / f"{job_id}.json"

    def succeed(self, job_id: str, document: dict[str, Any]) -> None:
        """Write the document (temp file, fsync, rename), then mark the job SUCCEEDED."""
        path = self.document_path(job_id)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        permissions.create_private_file(temp)
        with open(temp, "w", encoding="utf-8") as f:
            json.dump(document, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
        fsync_directory(self.documents)
        self._finish(job_id, SUCCEEDED, None)

    def fail(self, job_id: str, message: str) -> None:
        self._finish(job_id, FAILED, message[:1000])

    def _finish(self, job_id: str, status: str, message: str | None) -> None:
        with self._db.transaction() as conn:
            conn.execute("UPDATE jobs SET status = ?, status_message = ?, finished_at = ? WHERE job_id = ?",
                         (status, message, time.time(), job_id))

    def document(self, job_id: str) -> dict[str, Any]:
        with open(self.document_path(job_id), encoding="utf-8") as f:
            document: dict[str, Any] = json.load(f)
        return document


def _job(row: tuple[Any, ...]) -> Job:
    return Job(job_id=row[0], kind=row[1], request=json.loads(row[2]), video_path=Path(row[3]), status=row[4],
               status_message=row[5], created_at=row[6], finished_at=row[7])

