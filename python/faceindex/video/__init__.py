"""Faces in stored video and live streams: decode (PyAV) and sample by time in a thread,
detect every sampled frame, follow faces with a tracker, embed each track's best faces,
search the collection per track; Rekognition-shaped documents and live events."""

from faceindex.video.analysis import VideoAnalysis
from faceindex.video.face_tracking import EmbedPolicy, SearchSettings
from faceindex.video.reconnect import ReconnectPolicy
from faceindex.video.results import FrameFaces, Track, TrackedFace, TrackEvent
from faceindex.video_sampling import DEFAULT_SAMPLE_FPS
from faceindex.video_source import VideoMetadata, VideoSource
from faceindex.video.stream import StreamSearch
from faceindex.video.tracker import FaceTracker, TrackerSettings

__all__ = ["DEFAULT_SAMPLE_FPS", "EmbedPolicy", "FaceTracker", "FrameFaces", "ReconnectPolicy", "SearchSettings",
           "StreamSearch", "Track", "TrackEvent", "TrackedFace", "TrackerSettings", "VideoAnalysis", "VideoMetadata",
           "VideoSource"]
