"""`faceindex index COLLECTION PATH...`: the faces of photos and videos into a collection."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceindex.cli import numbers
from faceindex.cli.common import CliError, OptionGroups, Output, add_command, box, open_collection, plural
from faceindex.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups
                 ) -> argparse.ArgumentParser:
    p = add_command(commands, "index", cmd_index, "index the faces in image files and folders (recursive)",
                    [groups.common])
    p.add_argument("collection")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--external-id-from", choices=["filename", "parent-dir", "none"], default="filename",
                   help="each image's external id: its file name (default) or its folder's name")
    p.add_argument("--max-faces", type=numbers.positive, help="index at most this many faces per image, largest first")
    p.add_argument("--quality-filter", choices=["none", "auto", "low", "medium", "high"], default="auto")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    return p


def cmd_index(args: argparse.Namespace, out: Output) -> int:
    from faceindex.collection.ingest import image_files, index_paths
    from faceindex.media_files import is_video
    from faceindex.progress import ProgressBar
    from faceindex.video.video_faces import index_videos, video_files

    with open_collection(args) as collection:
        files = image_files(args.paths)
        videos = [f for f in files if is_video(f)] + video_files(args.paths)
        photos = [f for f in files if not is_video(f)]
        if not photos and not videos:
            raise CliError(f"no photos or videos found in {', '.join(args.paths)}", EXIT_NOT_FOUND)
        bar = ProgressBar(len(photos) + len(videos), "indexing", enabled=args.progress)
        try:
            report = index_paths(collection, photos, args.external_id_from, args.max_faces, args.quality_filter,
                                 on_file=lambda f: bar.advance(Path(f.path).name))
            report.files += index_videos(collection, videos, args.external_id_from, args.max_faces,
                                         args.quality_filter, on_file=lambda f: bar.advance(Path(f.path).name)).files
        finally:
            bar.close()

    def human() -> list[str]:
        lines = []
        for f in report.files:
            if f.error is not None:
                lines.append(f"{f.path}: FAILED: {f.error}")
                continue
            assert f.result is not None
            skipped = ", ".join(f"{box(u.face.bbox)} {'+'.join(u.reasons)}" for u in f.result.unindexed_faces)
            lines.append(f"{f.path}: {plural(len(f.result.face_records), 'face')} indexed"
                         + (f"; not indexed: {skipped}" if skipped else ""))
        lines.append(f"{plural(len(report.files), 'file')}, {plural(report.indexed_faces, 'face')} indexed, "
                     f"{report.unindexed_faces:,} not indexed, {plural(len(report.failed), 'file')} failed")
        return lines

    out.emit({"files": report.files, "indexed_faces": report.indexed_faces,
              "unindexed_faces": report.unindexed_faces, "failed_files": len(report.failed)}, human)
    return EXIT_PARTIAL if report.failed else EXIT_OK
