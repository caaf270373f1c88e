"""The CLI's Ray options: `faceindex collection create NAME --shards N --ray ADDRESS` and
`faceindex index NAME SOURCE... --ray ADDRESS`; `collection list/describe/delete` know sharded
collections. Without --ray/--shards the commands run as before, and Ray is imported only with them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from faceindex.cli.common import CliError, Output, make_engine, open_collections
from faceindex.cli.numbers import shards
from faceindex.cli.results import description_lines
from faceindex.distributed.connect import before_ray, connect
from faceindex.distributed.layout import delete_sharded, describe_sharded, is_sharded, list_sharded, shard_count
from faceindex.errors import EXIT_NOT_FOUND, EXIT_OK, EXIT_PARTIAL


def add_ray_options(create: argparse.ArgumentParser, index: argparse.ArgumentParser,
                    listing: argparse.ArgumentParser, describe: argparse.ArgumentParser,
                    delete: argparse.ArgumentParser) -> None:
    """--shards/--ray on `collection create`, --ray/--workers/--batch-size on `index`; `collection
    list/describe/delete` know sharded collections (read from their files: no Ray needed)."""
    create.add_argument("--shards", type=shards, help="a collection sharded over this many Ray actors "
                        "(with --ray; default 1 when --ray is given)")
    create.add_argument("--ray", metavar="ADDRESS", help="the Ray cluster to use (an address, 'auto', or 'local' "
                        "for a Ray instance on this machine)")
    index.add_argument("--ray", metavar="ADDRESS", help="index through this Ray cluster into a sharded collection "
                       "(an address, 'auto', or 'local'); PATHs may be http(s) URLs the workers can read")
    index.add_argument("--workers", type=shards, help="with --ray: how many FaceEngine workers (default: one "
                       "per CPU of the cluster)")
    index.add_argument("--batch-size", type=shards, default=8, help="with --ray: images per worker call "
                       "(default 8)")
    _route(create, cmd_create_sharded, lambda args: args.ray is not None or args.shards is not None)
    _route(index, cmd_index_distributed, lambda args: args.ray is not None)
    _route(describe, cmd_describe_sharded, lambda args: is_sharded(args.home, args.collection_id))
    _route(delete, cmd_delete_sharded, lambda args: is_sharded(args.home, args.collection_id))
    _route(listing, cmd_list_with_sharded, lambda args: bool(list_sharded(args.home)))


def _route(parser: argparse.ArgumentParser, handler: Callable[..., int], when: Callable[[argparse.Namespace], bool]
           ) -> None:
    plain = parser.get_default("handler")

    def route(args: argparse.Namespace, out: Output) -> int:
        return int(handler(args, out) if when(args) else plain(args, out))

    parser.set_defaults(handler=route)


def cmd_create_sharded(args: argparse.Namespace, out: Output) -> int:
    before_ray(args.ray)
    from faceindex.distributed.sharded_collection import ShardedCollection

    pack = make_engine(args).pack
    connect(args.ray)
    with ShardedCollection.create(args.home, args.collection_id, args.shards or 1, pack) as sharded:
        info = {"collection_id": sharded.collection_id, "shards": sharded.shards, "pack": str(pack.ref),
                "path": str(sharded.directory)}
    out.emit(info, lambda: [f"created sharded collection {info['collection_id']} ({info['shards']} shards, "
                            f"pack {info['pack']}) at {info['path']}"])
    return EXIT_OK


def cmd_index_distributed(args: argparse.Namespace, out: Output) -> int:
    before_ray(args.ray)
    from faceindex.distributed.ingestion import ImageFaces, IngestionReport, ingest, sources_of
    from faceindex.distributed.sharded_collection import ShardedCollection
    from faceindex.progress import ProgressBar

    sources = sources_of(args.paths)
    if not sources:
        raise CliError(f"no photos or videos found in {', '.join(args.paths)}", EXIT_NOT_FOUND)
    connect(args.ray)
    bar = ProgressBar(len(sources), "indexing (ray)", enabled=args.progress)

    def advance(image: ImageFaces, report: IngestionReport) -> None:
        bar.advance(f"{report.indexed_faces} faces, {report.faces_per_s:.1f} faces/s {Path(image.source).name}")

    with ShardedCollection(args.home, args.collection) as sharded:
        try:
            report = ingest(sharded, sources, workers=args.workers, batch_size=args.batch_size,
                            external_id_from=args.external_id_from, max_faces=args.max_faces,
                            quality_filter=args.quality_filter, on_image=advance)
        finally:
            bar.close()
    summary = {"images": report.images, "videos": report.videos, "skipped": report.skipped, "indexed_faces": report.indexed_faces,
               "unindexed_faces": report.unindexed_faces, "failed": [{"path": p, "error": e} for p, e in report.failed],
               "workers": report.workers, "seconds": round(report.seconds, 3),
               "faces_per_s": round(report.faces_per_s, 2)}
    out.emit(summary, lambda: [f"{p}: FAILED: {e}" for p, e in report.failed] + [
        f"{report.images} files ({report.videos} videos; {report.skipped} indexed before), "
        f"{report.indexed_faces} faces indexed, "
        f"{report.unindexed_faces} not indexed, {len(report.failed)} failed; {report.workers} workers, "
        f"{report.faces_per_s:.1f} faces/s"])
    return EXIT_PARTIAL if report.failed else EXIT_OK


def cmd_list_with_sharded(args: argparse.Namespace, out: Output) -> int:
    plain, sharded = open_collections(args).list_collections(), list_sharded(args.home)
    out.emit({"collections": plain, "sharded": sharded},
             lambda: plain + [f"{name} (sharded, {shard_count(args.home, name)} shards)" for name in sharded])
    return EXIT_OK


def cmd_describe_sharded(args: argparse.Namespace, out: Output) -> int:
    d = describe_sharded(args.home, args.collection_id)
    shards = shard_count(args.home, args.collection_id)
    out.emit({**vars(d), "shards": shards}, lambda: description_lines(d, shards))
    return EXIT_OK


def cmd_delete_sharded(args: argparse.Namespace, out: Output) -> int:
    delete_sharded(args.home, args.collection_id)
    out.emit({"deleted": args.collection_id}, lambda: [f"deleted sharded collection {args.collection_id}"])
    return EXIT_OK
