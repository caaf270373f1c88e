"""Running the video jobs: one thread takes the queued jobs oldest first and runs each
through VideoAnalysis (one job at a time: a job already keeps every core busy through
the engine's threads), writing its document to the JobStore.

A server that stops mid-job interrupts it between frames and leaves it IN_PROGRESS; the
next server runs it again from the start.

A finished job (SUCCEEDED or FAILED) with a NotificationChannel publishes Rekognition's completion
message to its SNS topic (outputs.py), as AWS's own examples wait for it (SNS -> SQS). A FAILED job's
StatusMessage names the video by its S3 object, never by the server's file path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from faceindex.engine import FaceEngine
from faceindex.errors import FaceIndexError
from faceindex import thresholds
from faceindex.service import accountability
from faceindex.collection.contract import FaceCollection
from faceindex.service.errors import ServiceError
from faceindex.service.jobs import FACE_DETECTION, FACE_SEARCH, FAILED, SUCCEEDED, Job, JobStore
from faceindex.service.outputs import Notifications, OutputError

log = logging.getLogger("faceindex.service")

class _Interrupted(Exception):
    """The server is stopping: the job stays IN_PROGRESS for the next one."""


class VideoJobs:
    """The job queue and the thread that works through it."""

    def __init__(self, store: JobStore, open_collection: Callable[[str], FaceCollection],
                 default_engine: Callable[[], FaceEngine], notifications: Notifications | None = None,
                 private_paths: Sequence[tuple[str, str]] = ()) -> None:
        self.store = store
        self._open_collection = open_collection
        self._default_engine = default_engine
        self.notifications = notifications or Notifications(None)
        self._private_paths = list(private_paths)  # (a server path, what a client is told instead)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run every job left IN_PROGRESS by an earlier server, then each new one."""
        self._thread = threading.Thread(target=self._loop, name="faceindex-video-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, request: dict[str, Any], video_path: Path) -> str:
        job_id, created = self.store.submit(kind, request, video_path)
        if created:
            self._wake.set()
        return job_id

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            job = self.store.next_in_progress()
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            document = self._analyse(job)
        except _Interrupted:
            log.info("video job %s interrupted by shutdown; it runs again at the next start", job.job_id)
            return
        except ServiceError as e:
            self._fail(job, f"{e.code}: {e.message}")
            return
        except FaceIndexError as e:  # the video cannot be read, the collection is gone, ...
            self._fail(job, str(e))
            return
        except Exception:
            log.exception("video job %s failed", job.job_id)
            self._fail(job, "internal error while analysing the video")
            return
        self.store.succeed(job.job_id, document)
        self._notify(job, SUCCEEDED, "")

    def _fail(self, job: Job, message: str) -> None:
        public = self._public(job, message)
        self.store.fail(job.job_id, public)
        self._notify(job, FAILED, public)

    def _public(self, job: Job, message: str) -> str:
        """The message with the server's paths replaced by what the client knows (its S3 object)."""
        s3 = job.request.get("Video", {}).get("S3Object", {})
        message = message.replace(str(job.video_path), f"s3://{s3.get('Bucket', '')}/{s3.get('Name', '')}")
        for path, name in self._private_paths:
            message = message.replace(path, name)
        return message

    def _notify(self, job: Job, status: str, message: str) -> None:
        """Rekognition's completion message to the job's SNS topic, if it gave one. A failure to
        publish is logged (the job's result stands; Get answers it)."""
        channel = job.request.get("NotificationChannel")
        if not channel:
            return
        s3 = job.request.get("Video", {}).get("S3Object", {})
        payload: dict[str, Any] = {
            "JobId": job.job_id, "Status": status,
            "API": "FACE_SEARCH" if job.kind == FACE_SEARCH else "FACE_DETECTION" if job.kind == FACE_DETECTION
            else job.kind,
            "Message": message, "Timestamp": int(time.time() * 1000),
            "Video": {"S3ObjectName": s3.get("Name", ""), "S3Bucket": s3.get("Bucket", "")}}
        if "JobTag" in job.request:
            payload["JobTag"] = job.request["JobTag"]
        try:
            self.notifications.publish(channel["SNSTopicArn"], payload)
        except OutputError as e:
            log.error("video job %s: the completion message was not published: %s", job.job_id, e)

    def _analyse(self, job: Job) -> dict[str, Any]:
        from faceindex.video.analysis import VideoAnalysis  # the video extra is needed only when a job runs
        from faceindex.video.face_tracking import SearchSettings

        collection: FaceCollection | None = None
        wanted: accountability.Requested | None = None
        search = SearchSettings()
        if job.kind == FACE_SEARCH:
            collection = self._open_collection(job.request["CollectionId"])
            # FaceMatchThreshold as a photo search takes it; every track's search is in the
            # collection's audit log with the job id as its reference.
            wanted = accountability.requested(collection.pack, job.request.get("FaceMatchThreshold"))
            search = SearchSettings(threshold=wanted.threshold, max_fmr=wanted.max_fmr, purpose="StartFaceSearch",
                                    reference=job.job_id)
        engine = collection.engine if collection is not None else self._default_engine()
        with VideoAnalysis(str(job.video_path), engine, collection, search=search) as analysis:
            for _ in analysis:
                if self._stopping.is_set():
                    raise _Interrupted
            if collection is None or wanted is None:
                return analysis.face_detection_document()
            document = analysis.face_search_document()
        choice = thresholds.for_search(collection.pack, len(collection), wanted.threshold, wanted.max_fmr)
        # Kept with the document, so that every GetFaceSearch page answers the same X-Faceindex-* headers.
        document["FaceindexHeaders"] = accountability.headers(collection.pack, choice, wanted)
        return document
