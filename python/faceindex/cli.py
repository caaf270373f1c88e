"""The `faceindex` command: collections, indexing, search, users, compare and detect.

Every command takes --json (one JSON document on stdout). Exit codes:
0 done; 1 done, but some inputs failed (index); 2 bad usage; 3 not found
(collection, face, user, file); 4 bad input (an image that cannot be read or
holds no face, a damaged or foreign collection file, a bad value);
5 conflict (the id exists, another model pack); 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable, Sequence

import numpy as np

from faceindex import cli_numbers as numbers
from faceindex.backends.precision import PRECISIONS
from faceindex.errors import EXIT_BAD_INPUT, EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, FaceIndexError


class CliError(FaceIndexError):
    """A usage problem the command itself finds, with the exit code it warrants."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


# -- output ------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """Results as JSON values: dataclasses as objects, arrays as lists, times as ISO 8601.
    Embeddings are left out (they are biometric data and large)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "embedding"}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


class Output:
    def __init__(self, as_json: bool, stdout: TextIO) -> None:
        self.as_json, self.stdout = as_json, stdout

    def emit(self, value: Any, human: Callable[[], Sequence[str]]) -> None:
        if self.as_json:
            json.dump(to_json(value), self.stdout, indent=2)
            self.stdout.write("\n")
        else:
            for line in human():
                self.stdout.write(line + "\n")


def _box(bbox: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.0f}" for v in bbox) + ")"


# -- commands ------------------------------------------------------------------------------


def _collections(args: argparse.Namespace) -> Any:
    from faceindex.collection import Collections

    return Collections(args.home, key_file=args.key_file)


def _warn_if_exposed(args: argparse.Namespace, collection_id: str) -> None:
    """A warning on stderr when the collection's files are open to group or others (biometric data)."""
    from faceindex.collection.permissions import exposure_warning

    directory = _collections(args).path_of(collection_id)
    warning = exposure_warning(directory) if directory.is_dir() else None
    if warning:
        args.stderr.write(f"faceindex: warning: {warning}\n")


def _collection(args: argparse.Namespace) -> Any:
    _warn_if_exposed(args, args.collection)
    return _collections(args).collection(args.collection)


def _engine(args: argparse.Namespace) -> Any:
    from faceindex.engine import FaceEngine

    return FaceEngine(pack=args.pack, backend=args.backend, detector=args.detector, recognizer=args.recognizer,
                      precision=args.precision)


def _inference(engine: Any) -> dict[str, str]:
    """Where a result's networks ran and at what precision, and why."""
    info = engine.pack
    return {"backend": info.backend, "precision": info.precision, "why": info.precision_reason}


def cmd_collection_create(args: argparse.Namespace, out: Output) -> int:
    engine = _engine(args)
    with _collections(args).create_collection(args.collection_id, engine=engine) as collection:
        description = _collections(args).describe_collection(collection.collection_id)
    out.emit(description, lambda: [f"created {'encrypted ' if description.encrypted else ''}collection "
                                   f"{description.collection_id} "
                                   f"(pack {description.pack}) at {description.path}"])
    return EXIT_OK


def cmd_collection_list(args: argparse.Namespace, out: Output) -> int:
    names = _collections(args).list_collections()
    out.emit({"collections": names}, lambda: names or ["(no collections)"])
    return EXIT_OK


def cmd_collection_describe(args: argparse.Namespace, out: Output) -> int:
    _warn_if_exposed(args, args.collection_id)
    d = _collections(args).describe_collection(args.collection_id)
    out.emit(d, lambda: description_lines(d))
    return EXIT_OK


def description_lines(d: Any, shards: int | None = None) -> list[str]:
    """`collection describe` for people; shards: how many, for a sharded collection (sizes summed)."""
    return [
        f"collection  {d.collection_id}" + (f" (sharded over {shards} Ray actors)" if shards else ""),
        f"pack        {d.pack} ({d.embedding_size}-d, default threshold {d.default_threshold:.3f})",
        f"faces       {d.face_count}",
        f"users       {d.user_count}",
        f"created     {d.created_at.isoformat(timespec='seconds')}",
        f"path        {d.path}",
        f"size        database{'s' if shards else ''} {d.database_bytes:,} B, "
        f"index cache{'s' if shards else ''} {d.cache_bytes:,} B",
        f"encrypted   {'yes (SQLCipher database, AES-256-GCM index cache)' if d.encrypted else 'no'}",
    ]


def cmd_collection_delete(args: argparse.Namespace, out: Output) -> int:
    _collections(args).delete_collection(args.collection_id)
    out.emit({"deleted": args.collection_id}, lambda: [f"deleted collection {args.collection_id}"])
    return EXIT_OK


def cmd_index(args: argparse.Namespace, out: Output) -> int:
    from faceindex.collection.ingest import image_files, index_paths
    from faceindex.progress import ProgressBar
    from faceindex.media_files import is_video
    from faceindex.video.video_faces import index_videos, video_files

    with _collection(args) as collection:
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
            skipped = ", ".join(f"{_box(u.face.bbox)} {'+'.join(u.reasons)}" for u in f.result.unindexed_faces)
            lines.append(f"{f.path}: {len(f.result.face_records)} faces indexed"
                         + (f"; not indexed: {skipped}" if skipped else ""))
        lines.append(f"{len(report.files)} files, {report.indexed_faces} faces indexed, "
                     f"{report.unindexed_faces} not indexed, {len(report.failed)} files failed")
        return lines

    out.emit({"files": report.files, "indexed_faces": report.indexed_faces,
              "unindexed_faces": report.unindexed_faces, "failed_files": len(report.failed)}, human)
    return EXIT_PARTIAL if report.failed else EXIT_OK


def _threshold_line(result: Any) -> str:
    """The threshold, how it was chosen, and the false-match rates estimated there."""
    c = result.threshold_choice
    how = {"fixed": "given", "fmr": f"max FMR {c.requested:g}" if c.requested else "FMR",
           "fpir": f"max FPIR {c.requested:g} at {c.gallery_size:,} faces" if c.requested else "FPIR",
           "uncalibrated default": "the pack's uncalibrated default"}[c.chosen_by]
    rates = [f"FMR {c.fmr}"] if c.fmr is not None else ["error rates not measured for this pack"]
    if c.fpir is not None:
        rates.append(f"FPIR {c.fpir}")
    return f"threshold {result.threshold:.4f} ({how}; {', '.join(rates)}; pack {result.pack})"


def _match_lines(result: Any) -> list[str]:
    lines = [_threshold_line(result)]
    if result.searched_face is not None:
        lines[0] = f"searched face {_box(result.searched_face.bbox)}, " + lines[0]
    if not result.face_matches:
        lines.append("  no match")
    for m in result.face_matches:
        lines.append(f"  {m.similarity:.3f}  {m.face.face_id}  {m.face.external_image_id or '-'}"
                     + (f"  user {m.face.user_id}" if m.face.user_id else ""))
    return lines


def _criteria(args: argparse.Namespace) -> dict[str, Any]:
    """The decision options every search takes: --max-fmr / --max-fpir and the audit notes."""
    return {"max_fmr": args.max_fmr, "max_fpir": args.max_fpir, "purpose": args.purpose, "reference": args.reference}


def cmd_search(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        if args.face_id:
            result: Any = collection.search_faces(args.image, args.max_faces, args.threshold, **_criteria(args))
        else:
            result = collection.search_faces_by_image(args.image, args.max_faces, args.threshold,
                                                      all_faces=args.all_faces, **_criteria(args))
    results = result if isinstance(result, list) else [result]
    out.emit(result, lambda: [line for r in results for line in _match_lines(r)])
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, out: Output) -> int:
    c = _engine(args).compare(args.a, args.b, threshold=args.threshold, max_fmr=args.max_fmr)
    out.emit(c, lambda: [f"similarity {c.similarity:.4f}: {'same person' if c.same_person else 'different people'}",
                         _threshold_line(c)])
    return EXIT_OK


def cmd_detect(args: argparse.Namespace, out: Output) -> int:
    engine = _engine(args)
    faces = engine.detect(args.image)
    out.emit({"faces": faces, "pack": engine.pack.ref, "inference": _inference(engine)}, lambda: [
        f"{len(faces)} faces"] + [f"  {_box(f.bbox)} score {f.score:.3f} size {f.face_size:.0f}px "
                                  f"sharpness {f.sharpness:.1f} brightness {f.brightness:.2f}" for f in faces])
    return EXIT_OK


def cmd_faces_list(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        page = collection.list_faces(args.max_results, args.next_token, user_id=args.user,
                                     external_image_id=args.external_image_id)
    out.emit(page, lambda: [f"{r.face_id}  {r.external_image_id or '-'}  {_box(r.face.bbox)}  "
                            f"confidence {r.face.score:.3f}" + (f"  user {r.user_id}" if r.user_id else "")
                            for r in page.faces] + ([f"more: --next-token {page.next_token}"] if page.next_token else []))
    return EXIT_OK


def cmd_faces_delete(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        result = collection.delete_faces(args.face_ids)
    out.emit(result, lambda: [f"deleted {f}" for f in result.deleted_faces] + [
        f"not deleted {u.face_id}: {'+'.join(u.reasons)}" for u in result.unsuccessful_face_deletions])
    return EXIT_PARTIAL if result.unsuccessful_face_deletions else EXIT_OK


def cmd_users_create(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        collection.create_user(args.user_id)
    out.emit({"created": args.user_id}, lambda: [f"created user {args.user_id}"])
    return EXIT_OK


def cmd_users_delete(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        result = collection.delete_user(args.user_id, delete_faces=not args.keep_faces)
    out.emit(result, lambda: [f"deleted user {result.user_id}: {len(result.deleted_faces)} faces erased, "
                              f"{len(result.disassociated_faces)} kept"])
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        page = collection.list_users(args.max_results, args.next_token)
    out.emit(page, lambda: [f"{u.user_id}  {u.face_count} faces" for u in page.users] + (
        [f"more: --next-token {page.next_token}"] if page.next_token else []))
    return EXIT_OK


def cmd_users_associate(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        result = collection.associate_faces(args.user_id, args.face_ids, args.threshold, max_fmr=args.max_fmr,
                                            purpose=args.purpose, reference=args.reference)
    out.emit(result, lambda: [f"associated {f}" for f in result.associated_faces] + [
        f"not associated {u.face_id}: {'+'.join(u.reasons)}" for u in result.unsuccessful_face_associations])
    return EXIT_PARTIAL if result.unsuccessful_face_associations else EXIT_OK


def cmd_users_disassociate(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        result = collection.disassociate_faces(args.user_id, args.face_ids)
    out.emit(result, lambda: [f"disassociated {f}" for f in result.disassociated_faces] + [
        f"not disassociated {u.face_id}: {'+'.join(u.reasons)}" for u in result.unsuccessful_face_disassociations])
    return EXIT_PARTIAL if result.unsuccessful_face_disassociations else EXIT_OK


def cmd_users_search(args: argparse.Namespace, out: Output) -> int:
    with _collection(args) as collection:
        if args.image is not None:
            result = collection.search_users_by_image(args.image, args.max_users, args.threshold, **_criteria(args))
        else:
            result = collection.search_users(user_id=args.user, face_id=args.face, max_users=args.max_users,
                                             threshold=args.threshold, **_criteria(args))
    out.emit(result, lambda: [_threshold_line(result)] + (
        [f"  {m.similarity:.3f}  {m.user.user_id}  (face {m.face.face_id})" for m in result.user_matches]
        or ["  no match"]))
    return EXIT_OK


def cmd_audit(args: argparse.Namespace, out: Output) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since must be an ISO 8601 date or time, got {args.since!r}", EXIT_USAGE) from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
    with _collection(args) as collection:
        log = collection.audit_log(since, args.limit)
    out.emit({"entries": log}, lambda: [
        f"{e.at.isoformat(timespec='seconds')}  {e.operation}  threshold {e.threshold:.4f} ({e.chosen_by}"
        + (f" {e.requested:g}" if e.requested is not None else "") + ")"
        + (f"  FMR {e.fmr:.2g}" if e.fmr is not None else "") + (f"  FPIR {e.fpir:.2g}" if e.fpir is not None else "")
        + f"  {e.candidate_count} candidates" + (f"  purpose {e.purpose!r}" if e.purpose else "")
        + (f"  ref {e.reference!r}" if e.reference else "") for e in log] or ["(no entries)"])
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace, out: Output) -> int:
    from faceindex.evaluation import calibration
    from faceindex.evaluation.calibrate import calibrate, labelled_photos
    from faceindex.progress import ProgressBar

    engine = _engine(args)
    bar = ProgressBar(len(labelled_photos(Path(args.images))), "embedding", enabled=args.progress)
    try:
        table = calibrate(engine, Path(args.images), args.dataset or str(args.images),
                          on_photo=lambda p: bar.advance(p.name))
    finally:
        bar.close()
    path = Path(args.out) if args.out else calibration.user_dir() / calibration.table_file_name(engine.pack.ref)
    table.save(path)
    calibration.forget_loaded_tables()
    rows = []
    for fmr in (1e-3, 1e-4, 1e-5, 1e-6):
        try:
            t, beyond = table.threshold_for_fmr(fmr)
        except ValueError:
            continue
        rows.append({"fmr": fmr, "threshold": t, "fnmr": table.fnmr_at(t), "beyond_table": beyond})
    out.emit({"table": str(path), "pack": engine.pack.ref, "impostor_pairs": table.impostor_pairs,
              "genuine_pairs": table.genuine_pairs, "resolved_fmr": table.resolved_fmr, "operating_points": rows},
             lambda: [f"wrote {path}: {table.source}", f"rates resolved down to FMR {table.resolved_fmr:.2g}"] + [
                 f"  FMR {r['fmr']:g}: threshold {r['threshold']:.4f}, FNMR {r['fnmr']}"
                 + (" (fitted tail)" if r["beyond_table"] else "") for r in rows])
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, out: Output) -> int:
    from faceindex.evaluation.run import run_eval

    report, html_path, json_path = run_eval(_engine(args), Path(args.source), args.pairs, args.groups, args.out,
                                            args.threshold, args.gallery_split, args.progress)
    points = [p for p in report.verification.points if p.resolved]
    out.emit({"html": html_path, "json": json_path, "verification": points, "identification": report.identification}, lambda: [
        f"{report.images} images, {report.identities} identities, {report.images_without_face} without a face",
        *[f"FNMR at FMR {p.target:g}: {p.false_negative} (threshold {p.threshold:.4f})" for p in points],
        *([f"rank-1: {report.identification.rank1}"] if report.identification else []),
        f"report: {html_path}", f"json:   {json_path}"])
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------------










def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the command, the option counts.
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    common.add_argument("--home", default=argparse.SUPPRESS,
                        help="folder holding the collections (default: $FACEINDEX_HOME, else the user data folder)")
    common.add_argument("--key-file", default=argparse.SUPPRESS,
                        help="key of encrypted collections: a file of 32 raw bytes or 64 hex digits, owner-only "
                        "(default: $FACEINDEX_KEY_FILE; none: plain collections)")
    engine = argparse.ArgumentParser(add_help=False)
    engine.add_argument("--pack", default="dlib", help="model pack (default: dlib)")
    engine.add_argument("--backend", default="auto", help="inference backend: auto, onnxruntime, openvino, tensorrt "
                        "(default: auto)")
    engine.add_argument("--precision", choices=PRECISIONS, default=None,
                        help="network precision (default: the backend's own; auto: the fastest verified one)")
    engine.add_argument("--detector", help="detector ONNX file (with --recognizer: a custom pack)")
    engine.add_argument("--recognizer", help="recognizer ONNX file")
    decision = argparse.ArgumentParser(add_help=False)
    decision.add_argument("--max-fmr", type=numbers.rate, help="the threshold whose false-match rate per comparison is "
                          "at most this (from the pack's calibration table)")
    searching = argparse.ArgumentParser(add_help=False, parents=[decision])
    searching.add_argument("--max-fpir", type=numbers.rate, help="the threshold at which a search of someone not in the "
                           "collection returns a false candidate with at most this chance (default 0.01)")
    searching.add_argument("--purpose", help="why this search is made (written to the audit log)")
    searching.add_argument("--reference", help="a case or request id (written to the audit log)")

    parser = argparse.ArgumentParser(prog="faceindex", parents=[common],
                                     description="Self-hosted face recognition: collections of faces on your own disk.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group: Any, name: str, handler: Callable[..., int], help: str, parents: Sequence[Any] = ()) -> Any:
        sub = group.add_parser(name, parents=[common, *parents], help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    collection = commands.add_parser("collection", help="create, list, describe, delete collections")
    coll = collection.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = create = command(coll, "create", cmd_collection_create, "create a collection bound to a model pack", [engine])
    p.add_argument("collection_id")
    listing = command(coll, "list", cmd_collection_list, "list the collections")
    describe = command(coll, "describe", cmd_collection_describe, "faces, users, pack and sizes of a collection")
    describe.add_argument("collection_id")
    delete = command(coll, "delete", cmd_collection_delete, "delete a collection and all its files")
    delete.add_argument("collection_id")

    p = command(commands, "index", cmd_index, "index the faces in image files and folders (recursive)")
    p.add_argument("collection")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--external-id-from", choices=["filename", "parent-dir", "none"], default="filename",
                   help="each image's external id: its file name (default) or its folder's name")
    p.add_argument("--max-faces", type=numbers.positive, help="index at most this many faces per image, largest first")
    p.add_argument("--quality-filter", choices=["none", "auto", "low", "medium", "high"], default="auto")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    # -- Ray: --shards/--ray and sharded collections are handled in distributed/cli_distributed.py;
    # this is its one hook --
    from faceindex.distributed.cli_distributed import add_ray_options

    add_ray_options(create, p, listing, describe, delete)

    p = command(commands, "search", cmd_search, "search a collection for the faces in an image", [searching])
    p.add_argument("collection")
    p.add_argument("image", help="an image (or a face id with --face-id)")
    p.add_argument("--face-id", action="store_true", help="IMAGE is the id of a stored face")
    p.add_argument("--max-faces", type=numbers.positive, default=10, help="most matches to return (default 10)")
    p.add_argument("--threshold", type=numbers.threshold, help="cosine similarity (default: the pack's)")
    p.add_argument("--all-faces", action="store_true", help="search every face in the image, not just the largest")

    p = command(commands, "compare", cmd_compare, "compare the largest faces of two images", [engine, decision])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--threshold", type=numbers.threshold)

    command(commands, "detect", cmd_detect, "detect the faces in an image", [engine]).add_argument("image")

    # -- live streams: `faceindex stream` is defined in cli_stream.py; this is its one hook --
    from faceindex.cli_stream import add_stream_command

    add_stream_command(commands, [common, searching])

    faces = commands.add_parser("faces", help="list or delete stored faces")
    fa = faces.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = command(fa, "list", cmd_faces_list, "list stored faces, in the order they were indexed")
    p.add_argument("collection")
    p.add_argument("--max-results", type=numbers.positive, default=1000)
    p.add_argument("--next-token")
    p.add_argument("--user", help="only this user's faces")
    p.add_argument("--external-image-id", help="only the faces of this image")
    p = command(fa, "delete", cmd_faces_delete, "erase faces (database rows wiped, index cache rewritten)")
    p.add_argument("collection")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")

    users = commands.add_parser("users", help="create, delete, list, associate, disassociate and search users")
    us = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = command(us, "create", cmd_users_create, "create a user")
    p.add_argument("collection")
    p.add_argument("user_id")
    p = command(us, "delete", cmd_users_delete, "delete a user and erase their faces")
    p.add_argument("collection")
    p.add_argument("user_id")
    p.add_argument("--keep-faces", action="store_true", help="keep the user's faces, unassociated")
    p = command(us, "list", cmd_users_list, "list users")
    p.add_argument("collection")
    p.add_argument("--max-results", type=numbers.positive, default=100)
    p.add_argument("--next-token")
    p = command(us, "associate", cmd_users_associate, "make faces a user's", [decision])
    p.add_argument("--purpose", help="written to the audit log")
    p.add_argument("--reference", help="written to the audit log")
    p.add_argument("collection")
    p.add_argument("user_id")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p.add_argument("--threshold", type=numbers.threshold, help="user match threshold (default: the pack's)")
    p = command(us, "disassociate", cmd_users_disassociate, "take faces from a user")
    p.add_argument("collection")
    p.add_argument("user_id")
    p.add_argument("face_ids", nargs="+", metavar="FACE_ID")
    p = command(us, "search", cmd_users_search, "users like a user, a stored face or the face in an image",
                [searching])
    p.add_argument("collection")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--user")
    which.add_argument("--face")
    which.add_argument("--image")
    p.add_argument("--max-users", type=numbers.positive, default=10)
    p.add_argument("--threshold", type=numbers.threshold)

    p = command(commands, "audit", cmd_audit, "the audit log of a collection: every search and compare")
    p.add_argument("collection")
    p.add_argument("--since", help="from this ISO 8601 date or time on (UTC unless it says otherwise)")
    p.add_argument("--limit", type=numbers.positive, help="at most this many entries")

    p = command(commands, "calibrate", cmd_calibrate, "measure a pack's false-match and false-non-match rates on a "
                "folder of labelled photos (one sub-folder per person)", [engine])
    p.add_argument("--images", required=True, help="folder with one sub-folder of photos per person")
    p.add_argument("--out", help="where to write the table (default: the user's calibration folder, where "
                   "faceindex finds it)")
    p.add_argument("--dataset", help="how to name the photos in the table's provenance")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")

    p = command(commands, "eval", cmd_eval, "evaluate a pack on labelled faces: an HTML and JSON report", [engine])
    p.add_argument("source", help="a folder with one sub-folder of images per identity, or a pairs file")
    p.add_argument("--pairs", action="store_true", help="SOURCE is a pairs file (the default when it is a file)")
    p.add_argument("--groups", help="CSV of identity,group rows: rates per group at one threshold")
    p.add_argument("--out", default="eval-report", help="folder for report.html and report.json")
    p.add_argument("--threshold", type=numbers.threshold, help="the groups' threshold (default: where FMR = 1e-3)")
    p.add_argument("--gallery-split", type=float, default=0.1, metavar="SHARE",
                   help="1:N: share of multi-image identities held out of the gallery as non-mated (default 0.1)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")

    from faceindex.cli_video import add_video_commands

    add_video_commands(commands, command, engine, searching, numbers.threshold)

    # -- the Rekognition-compatible endpoint: `faceindex serve` is defined in cli_serve.py; this is its one hook --
    from faceindex.cli_serve import add_serve_command

    add_serve_command(commands, [common])
    return parser


def _exit_code(error: BaseException) -> int | None:
    """The exit code for an error the user can act on; None for a bug (it keeps its traceback)."""
    from faceindex.collection import dbapi

    if isinstance(error, FaceIndexError):
        return error.exit_code
    if isinstance(error, FileNotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, ValueError):
        return EXIT_BAD_INPUT
    if isinstance(error, (OSError, *dbapi.errors(), ImportError)):
        return EXIT_PARTIAL
    return None


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse has printed the usage error
        return int(e.code or 0)
    args.json = getattr(args, "json", False)
    args.home = getattr(args, "home", None)
    args.key_file = getattr(args, "key_file", None)
    args.stderr = stderr
    out = Output(args.json, stdout)
    try:
        return int(args.handler(args, out))
    except KeyboardInterrupt:
        stderr.write("faceindex: interrupted\n")
        return 130
    except BrokenPipeError:  # `faceindex ... | head`: the reader left; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PARTIAL
    except Exception as error:
        code = _exit_code(error)
        if code is None:
            raise
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        stderr.write(f"faceindex: error: {message}\n")
        if args.json:
            json.dump({"error": {"type": type(error).__name__, "message": message, "exit_code": code}}, stdout)
            stdout.write("\n")
        return code

if __name__ == "__main__":
    sys.exit(main())
