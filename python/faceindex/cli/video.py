"""`faceindex video detect` and `faceindex video search`: faces and collection matches in
a stored video, printed as Rekognition's GetFaceDetection / GetFaceSearch documents
(--json) or as a summary per track."""

from __future__ import annotations

import argparse
import warnings
from typing import Any, TextIO

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, make_engine, open_collection, plural, stderr_of
from faceindex.cli.results import nearest_words, threshold_line
from faceindex.errors import EXIT_OK, EXIT_PARTIAL


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    from faceindex.video_sampling import DEFAULT_SAMPLE_FPS

    video = commands.add_parser("video", help="faces and collection matches in a stored video")
    actions = video.add_subparsers(dest="action", required=True, metavar="ACTION")

    def options(p: Any) -> None:
        p.add_argument("--sample-fps", type=numbers.sample_fps, default=DEFAULT_SAMPLE_FPS, metavar="FPS",
                       help=f"frames analysed per second of video, by timestamp (default {DEFAULT_SAMPLE_FPS:g}; "
                       "'all': every frame)")
        p.add_argument("--annotate", metavar="OUT.mp4", help="also write the video with boxes, track numbers and "
                       "matches drawn on it")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds a URL or camera may take to answer")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add_command(actions, "detect", cmd_video_detect, "faces in a video, followed as tracks (GetFaceDetection)",
                    [groups.common, groups.engine])
    p.add_argument("video", help="a video file, a URL FFmpeg opens, or a camera (/dev/video0)")
    options(p)
    p = add_command(actions, "search", cmd_video_search, "search a collection for the people in a video "
                    "(GetFaceSearch)", [groups.common, groups.searching])
    p.add_argument("collection")
    p.add_argument("video", help="a video file, a URL FFmpeg opens, or a camera (/dev/video0)")
    p.add_argument("--threshold", type=numbers.threshold, help="cosine similarity (default: by error rate)")
    p.add_argument("--max-faces", type=int, default=5, help="matches kept per track (default 5)")
    options(p)


class _Progress:
    """A progress bar over the analysed frames (their number estimated from the duration)."""

    def __init__(self, analysis: Any, quiet: bool, stream: TextIO | None = None) -> None:
        from faceindex.progress import ProgressBar

        m = analysis.metadata
        fps = analysis.sample_fps or m.frame_rate or 25.0
        total = max(1, int(round((m.duration_millis or 0) / 1000 * fps))) if m.duration_millis else 0
        self.bar = ProgressBar(total, "video", stream=stream, enabled=None if not quiet else False)

    def __call__(self, frame: Any) -> None:
        self.bar.advance(f"{frame.timestamp:.1f} s")


def _run(analysis: Any, args: argparse.Namespace, stderr: TextIO) -> list[str]:
    """Run the analysis; damage part-way is printed as a warning and makes the exit code 1."""
    progress = _Progress(analysis, args.quiet, stderr)
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for frame in analysis:
                progress(frame)
            progress.bar.finish()
        finally:
            progress.bar.close()
    for w in caught:
        stderr.write(f"faceindex: warning: {w.message}\n")
        problems.append(str(w.message))
    return problems


def _name(match: Any) -> str:
    return str(match.face.external_image_id or match.face.face_id)


def _track_lines(analysis: Any, settings: Any = None, default: Any = None) -> list[str]:
    """A summary per track: its span, and with a collection its match, or its best candidate
    below the threshold (a near miss a person can judge), then the threshold and how it was chosen."""
    m = analysis.metadata
    lines = [f"{analysis.source.name}: {m.frame_width}x{m.frame_height} {m.codec}, "
             f"{(m.duration_millis or 0) / 1000:.1f} s, {plural(analysis.timeline.frames, 'frame')} analysed, "
             f"{plural(len(analysis.tracks), 'track')}"]
    searched = None
    for t in analysis.tracks:
        line = f"  track {t.index}: {t.first_timestamp:5.2f}-{t.last_timestamp:5.2f} s, {plural(t.faces_seen, 'face')}"
        if t.search is not None:
            searched = t.search
            best, nearest = t.best_match, t.search.nearest
            if best is not None:
                line += f", {_name(best)} {best.similarity:.3f}"
            else:
                line += ", no match" + (f" ({nearest_words(nearest, t.search.threshold)})" if nearest else "")
        lines.append(line)
    if searched is not None:
        asked = settings is not None and any(v is not None for v in (settings.threshold, settings.max_fmr,
                                                                      settings.max_fpir))
        lines.append(threshold_line(searched, asked, default))
    return lines


def cmd_video_detect(args: argparse.Namespace, out: Output) -> int:
    from faceindex.video.analysis import VideoAnalysis

    engine = make_engine(args)
    with VideoAnalysis(args.video, engine, sample_fps=args.sample_fps, annotate=args.annotate,
                       timeout=args.timeout) as analysis:
        problems = _run(analysis, args, stderr_of(args))
        out.emit(analysis.face_detection_document(), lambda: _track_lines(analysis))
    return EXIT_PARTIAL if problems else EXIT_OK


def cmd_video_search(args: argparse.Namespace, out: Output) -> int:
    from faceindex import thresholds
    from faceindex.video.analysis import VideoAnalysis
    from faceindex.video.face_tracking import SearchSettings

    settings = SearchSettings(max_faces=args.max_faces, threshold=args.threshold, max_fmr=args.max_fmr,
                              max_fpir=args.max_fpir, purpose=args.purpose, reference=args.reference)
    with open_collection(args) as collection, \
            VideoAnalysis(args.video, collection=collection, sample_fps=args.sample_fps, search=settings,
                          annotate=args.annotate, timeout=args.timeout) as analysis:
        problems = _run(analysis, args, stderr_of(args))
        asked = any(v is not None for v in (args.threshold, args.max_fmr, args.max_fpir))
        default = thresholds.for_search(collection.pack, len(collection)) if asked else None
        out.emit(analysis.face_search_document(), lambda: _track_lines(analysis, settings, default))
    return EXIT_PARTIAL if problems else EXIT_OK
