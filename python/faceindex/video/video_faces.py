"""What indexing a stored video stores: one face per track (a person's stretch on screen),
not one per frame.

Of each track, the best-quality face the recognizer ran on: its box and landmarks in that
frame and its own embedding. Not the track's mean template, although the video search uses
that: the calibration tables that turn thresholds into false-match rates were measured on
single-photo embeddings, and a stored face must score like one. The faces then pass the
same quality filter and max_faces (largest first) as a photo's.

index_video stores them in a collection (what `faceindex index` does with a video file);
distributed ingestion runs video_faces_to_index on its workers and stores on the shards.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceindex.collection.ingest import ExternalIdFrom, FileOutcome, IngestReport, external_id_of
from faceindex.collection.quality_filter import QualityFilterSpec, resolve_quality_filter, select_faces
from faceindex.collection.contract import FaceCollection
from faceindex.collection.results import IndexFacesResult, UnindexedFace
from faceindex.detections import Detections
from faceindex.engine import FaceEngine
from faceindex.errors import VideoError
from faceindex.media_files import is_video
from faceindex.types import FloatArray
from faceindex.video.analysis import VideoAnalysis
from faceindex.video_sampling import DEFAULT_SAMPLE_FPS



@dataclass(frozen=True)
class VideoFaces:
    """The faces of a video to store, largest first, with when each was seen."""

    faces: Detections  # with embeddings
    embeddings: FloatArray
    timestamps: tuple[float, ...]  # seconds from the start, per face
    unindexed: list[UnindexedFace]
    frame_size: tuple[int, int]  # (width, height): the boxes are in these pixels
    tracks: int
    stopped_early: str | None = None  # a damaged file: why decoding stopped


def video_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The videos (by suffix) found recursively in the folders among paths, sorted (files named directly
    are the caller's: image_files keeps them)."""
    return [v for p in paths if Path(p).is_dir() for v in sorted(Path(p).rglob("*"))
            if v.is_file() and is_video(v)]


def video_faces_to_index(engine: FaceEngine, source: Any, max_faces: int | None, quality_filter: QualityFilterSpec,
                         sample_fps: float | None = DEFAULT_SAMPLE_FPS) -> VideoFaces:
    """Track the faces of a stored video (a path or anything VideoAnalysis opens) and choose what to store.
    VideoError for what is not a readable video."""
    bounds = resolve_quality_filter(quality_filter)
    with VideoAnalysis(source, engine, sample_fps=sample_fps) as video:
        video.run()
        seen = [(t.best_face, t.best_face_timestamp or 0.0) for t in video.tracks if t.best_face is not None]
        size = (int(video.metadata.frame_width), int(video.metadata.frame_height))
        stopped_early = video.stopped_early
    found = Detections.from_faces([face for face, _ in seen])
    kept, dropped = select_faces(found, max_faces, bounds)
    faces = found.take(np.asarray(kept, dtype=np.intp))  # from_faces kept each face's own embedding
    embeddings = faces.embeddings if faces.embeddings is not None and len(faces) else np.zeros(
        (0, engine.pack.embedding_size), np.float32)
    return VideoFaces(faces, embeddings, tuple(float(seen[i][1]) for i in kept),
                      [UnindexedFace(reasons, found[i]) for i, reasons in dropped], size, len(seen), stopped_early)


def face_external_id(video_id: str | None, timestamp: float) -> str | None:
    """A stored video face's external image id: the video's, then ':' and the millisecond of the frame
    it was taken from (Rekognition's Timestamp unit; ':' is in ExternalImageId's pattern)."""
    if video_id is None:
        return None
    suffix = f":{int(round(timestamp * 1000))}"
    return video_id[:255 - len(suffix)] + suffix


def index_video(collection: FaceCollection, source: Any, external_image_id: str | None = None,
                max_faces: int | None = None, quality_filter: QualityFilterSpec = "auto",
                sample_fps: float | None = DEFAULT_SAMPLE_FPS) -> IndexFacesResult:
    """Index a stored video's faces, one per track, as one image of the collection (its frame size;
    each face's external image id the video's with ':' and the millisecond it was seen)."""
    found = video_faces_to_index(collection.engine, source, max_faces, quality_filter, sample_fps)
    image_id = str(uuid.uuid4())
    records = collection.index_embeddings(
        found.embeddings, pack=collection.engine.pack, faces=list(found.faces.faces()),
        external_image_id=[face_external_id(external_image_id, t) for t in found.timestamps], image_id=image_id,
        image_size=found.frame_size) if len(found.faces) else []
    return IndexFacesResult(records, found.unindexed, image_id, collection.pack.ref)


def index_videos(collection: FaceCollection, files: Sequence[Path], external_id_from: ExternalIdFrom = "filename",
                 max_faces: int | None = None, quality_filter: QualityFilterSpec = "auto",
                 on_file: Callable[[FileOutcome], None] | None = None) -> IngestReport:
    """index_video on every file, as index_paths does photos: a file that is not a readable video is
    reported, not fatal."""
    report = IngestReport()
    for path in files:
        external_id = external_id_of(path, external_id_from)
        try:
            outcome = FileOutcome(str(path), external_id, index_video(collection, path, external_id, max_faces,
                                                                      quality_filter))
        except VideoError as e:
            outcome = FileOutcome(str(path), external_id, error=str(e))
        report.files.append(outcome)
        if on_file is not None:
            on_file(outcome)
    return report
