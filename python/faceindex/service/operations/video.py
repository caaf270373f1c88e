"""StartFaceDetection, GetFaceDetection, StartFaceSearch, GetFaceSearch: stored-video jobs.

Start answers at once with a JobId (the same one for a repeated ClientRequestToken); the
job runs in the background (service/video_jobs.py) and Get answers IN_PROGRESS until its
document is written, then pages through it with MaxResults / NextToken (an empty NextToken is
the first page, as AWS's own examples send it). NotificationChannel: the completion is published
to the SNS topic (--sns-endpoint-url; without it, InvalidParameterException at Start).
GetFaceSearch's Persons holds, as AWS documents it, the persons whose face matched a face of the
collection (each tracked person's entries are in faceindex's Tracks member too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

from faceindex.service import accountability
from faceindex.service.context import RequestContext
from faceindex.service.errors import ServiceError, invalid_parameter, not_found
from faceindex.service.image_input import local_s3_path
from faceindex.service.jobs import FACE_DETECTION, FACE_SEARCH, IN_PROGRESS, SUCCEEDED, Job
from faceindex.service.operations.registry import operation
from faceindex.service.video_jobs import VideoJobs

# Rekognition's limits for stored video: at most 10 GB; Get pages hold at most 1000 entries.
MAX_VIDEO_BYTES = 10 * 1024**3
MAX_PAGE = 1000


@operation("StartFaceDetection")
def start_face_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_channel(ctx, params)
    video = video_file(ctx, params["Video"])
    return {"JobId": _jobs(ctx).submit(FACE_DETECTION, params, video)}


@operation("StartFaceSearch")
def start_face_search(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = ctx.open_collection(params["CollectionId"])  # ResourceNotFoundException now, not a failed job later
    accountability.requested(collection.pack, params.get("FaceMatchThreshold"))  # a bad threshold fails here
    _check_channel(ctx, params)
    video = video_file(ctx, params["Video"])
    return {"JobId": _jobs(ctx).submit(FACE_SEARCH, params, video)}


@operation("GetFaceDetection")
def get_face_detection(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    job = _job(ctx, params["JobId"], FACE_DETECTION)
    response = _status(job)
    if job.status == SUCCEEDED:
        document = _jobs(ctx).store.document(job.job_id)
        response.update(_page(job, document, "Faces", "TIMESTAMP", params))
    return response


@operation("GetFaceSearch")
def get_face_search(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    job = _job(ctx, params["JobId"], FACE_SEARCH)
    ctx.require_collection(job.request["CollectionId"])  # a key limited to other collections may not read it
    response = _status(job)
    if job.status == SUCCEEDED:
        document = _jobs(ctx).store.document(job.job_id)
        # Persons: those matched, as AWS documents GetFaceSearch (older documents held every tracked person).
        document["Persons"] = [p for p in document["Persons"] if p.get("FaceMatches")]
        sort_by = params.get("SortBy", "TIMESTAMP")
        if sort_by == "INDEX":  # by person (track), then time; the document is by time, then person
            document["Persons"].sort(key=lambda p: (p["Person"]["Index"], p["Timestamp"]))
        response.update(_page(job, document, "Persons", sort_by, params))
        ctx.response_headers.update(document.get("FaceindexHeaders", {}))
    return response


def _check_channel(ctx: RequestContext, params: dict[str, Any]) -> None:
    if "NotificationChannel" in params:
        ctx.catalog.notifications.check(params["NotificationChannel"])


def video_file(ctx: RequestContext, video: dict[str, Any]) -> Path:
    """The local file of Video.S3Object (<s3_root>/<Bucket>/<Name>, never outside the root)."""
    if "S3Object" not in video:
        raise invalid_parameter("Video.S3Object is required")
    if ctx.config.s3_endpoint_url is not None:
        # A job reads its video for minutes, and again after a restart: it must be a local file.
        raise ServiceError("InvalidS3ObjectException",
                           "video jobs read Video.S3Object from --s3-root only, not from --s3-endpoint-url")
    path = local_s3_path(ctx.config, video["S3Object"], "Video.S3Object")
    if not path.is_file():
        raise ServiceError("InvalidS3ObjectException", "Video.S3Object names no object")
    if path.stat().st_size > MAX_VIDEO_BYTES:
        raise ServiceError("VideoTooLargeException", f"the video is over {MAX_VIDEO_BYTES} bytes")
    return path


def _jobs(ctx: RequestContext) -> VideoJobs:
    if ctx.video_jobs is None:
        raise invalid_parameter("this server runs no video jobs")
    return ctx.video_jobs


def _job(ctx: RequestContext, job_id: str, kind: str) -> Job:
    job = _jobs(ctx).store.get(job_id)
    if job is None or job.kind != kind:
        raise not_found(f"no {kind} job {job_id!r}")
    return job


def _status(job: Job) -> dict[str, Any]:
    response: dict[str, Any] = {"JobId": job.job_id, "JobStatus": job.status, "Video": job.request["Video"]}
    if "JobTag" in job.request:
        response["JobTag"] = job.request["JobTag"]
    if job.status not in (IN_PROGRESS, SUCCEEDED) and job.status_message:
        response["StatusMessage"] = job.status_message
    return response


def _page(job: Job, document: dict[str, Any], key: str, sort_by: str, params: dict[str, Any]) -> dict[str, Any]:
    """One page of the document's entries, plus everything else in it on the first page."""
    size = min(int(params.get("MaxResults", MAX_PAGE)), MAX_PAGE)
    start = 0 if not params.get("NextToken") else _offset(params["NextToken"], job.job_id, sort_by)
    entries = document[key]
    page: dict[str, Any] = {key: entries[start:start + size]}
    if start == 0:  # VideoMetadata, the pack, faceindex's tracks and threshold: once
        page.update({k: v for k, v in document.items() if k not in (key, "JobStatus")})
    else:
        page["VideoMetadata"] = document["VideoMetadata"]
    if start + size < len(entries):
        page["NextToken"] = _token(job.job_id, sort_by, start + size)
    return page


def _token(job_id: str, sort_by: str, offset: int) -> str:
    raw = json.dumps([_job_tag(job_id), sort_by, offset], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _offset(token: str, job_id: str, sort_by: str) -> int:
    """The offset a NextToken from this job and sort order stands for; InvalidPaginationTokenException else."""
    try:
        tag, sort, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
        valid = tag == _job_tag(job_id) and sort == sort_by and isinstance(offset, int) and offset > 0
    except (ValueError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise ServiceError("InvalidPaginationTokenException",
                           "NextToken is not one this job gave for this sort order")
    return int(offset)


def _job_tag(job_id: str) -> str:
    return hashlib.sha256(job_id.encode()).hexdigest()[:8]
