"""Stored video: open, decode in a thread, analyse the sampled frames, keep the timeline.

    with VideoAnalysis("talk.mp4", engine, collection) as video:
        for frame in video:          # FrameFaces, as they are analysed
            ...
    video.tracks                      # every track, with its search
    video.face_search_document()      # GetFaceSearch's shape

Opening checks the source (not a video, no video stream, frames too large: VideoError)
before any frame is analysed; iterating runs the video once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from faceindex.collection.contract import FaceCollection
from faceindex.engine import FaceEngine
from faceindex import thresholds
from faceindex.video.annotate import Annotator
from faceindex.video.face_tracking import EmbedPolicy, FaceTracking, SearchSettings
from faceindex.video.frame_reader import FrameReader
from faceindex.video.rekognition_shapes import face_detection_document, face_search_document
from faceindex.video.results import FrameFaces, Track
from faceindex.video_sampling import DEFAULT_SAMPLE_FPS, TimeSampler
from faceindex.video_source import DEFAULT_TIMEOUT, VideoSource
from faceindex.video.timeline import Timeline
from faceindex.video.tracker import TrackerSettings


class VideoAnalysis:
    def __init__(self, source: Any, engine: FaceEngine | None = None, collection: FaceCollection | None = None, *,
                 sample_fps: float | None = DEFAULT_SAMPLE_FPS, search: SearchSettings = SearchSettings(),
                 tracker: TrackerSettings | None = None, embed: EmbedPolicy = EmbedPolicy(),
                 annotate: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                 on_frame: Callable[[FrameFaces], None] | None = None) -> None:
        if engine is None:
            engine = collection.engine if collection is not None else FaceEngine()
        self.engine = engine
        self.collection = collection
        self._sampler = TimeSampler(sample_fps)
        self.sample_fps = sample_fps
        self._tracking = FaceTracking(engine, collection, search=search, tracker=tracker, embed=embed)
        self._annotate = Path(annotate) if annotate is not None else None
        self._on_frame = on_frame
        self.source = VideoSource(source, timeout=timeout, max_pixels=engine.max_pixels)
        self.timeline = Timeline()
        self.tracks: list[Track] = []
        self.elapsed = 0.0  # seconds spent running
        self._ran = False

    @property
    def metadata(self) -> Any:
        return self.source.metadata

    @property
    def stopped_early(self) -> str | None:
        """Why decoding stopped before the end of a damaged file (also warned), or None."""
        return self.source.stopped_early

    def __iter__(self) -> Iterator[FrameFaces]:
        if self._ran:
            raise RuntimeError("a VideoAnalysis runs once; open the video again to run it again")
        self._ran = True
        started = time.perf_counter()
        reader = FrameReader(self.source, self._sampler, keep_all=self._annotate is not None)
        annotator = Annotator(self._annotate, self.source, self.engine.pack) if self._annotate else None
        last: FrameFaces | None = None
        try:
            for frame in reader:
                if frame.analyse:
                    last = self._tracking.step(frame)
                    self.timeline.add(last)
                    if self._on_frame is not None:
                        self._on_frame(last)
                    yield last
                if annotator is not None:
                    annotator.write(frame, last, self._tracking.tracks)
            self.tracks = self._tracking.finish()
            if annotator is not None:
                annotator.finish()
                annotator = None
        finally:
            if annotator is not None:
                annotator.abandon()  # no half-written output file
            reader.close()
            self.elapsed += time.perf_counter() - started

    def run(self) -> VideoAnalysis:
        for _ in self:
            pass
        return self

    def face_detection_document(self) -> dict[str, Any]:
        return face_detection_document(self.metadata, self.timeline, self.engine.pack, self._extra())

    def face_search_document(self) -> dict[str, Any]:
        choice = None
        if self.collection is not None:
            s = self._tracking.search_settings
            choice = thresholds.for_search(self.collection.pack, len(self.collection), s.threshold, s.max_fmr,
                                           s.max_fpir)
        return face_search_document(self.metadata, self.timeline, self.tracks, self.engine.pack, choice,
                                    self._extra())

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"SampleFps": self.sample_fps, "AnalysedFrames": self.timeline.frames}
        if self.stopped_early:
            extra["StoppedEarly"] = self.stopped_early
        return extra

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> VideoAnalysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
