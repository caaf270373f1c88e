"""`faceindex search COLLECTION IMAGE`: the stored faces like the face(s) of an image or a stored face."""

from __future__ import annotations

import argparse
from typing import Any

from faceindex import thresholds
from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, open_collection
from faceindex.cli.results import match_lines
from faceindex.errors import EXIT_OK
from faceindex.types import PackInfo, ThresholdChoice


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "search", cmd_search, "search a collection for the faces in an image",
                    [groups.common, groups.searching])
    p.add_argument("collection")
    p.add_argument("image", help="an image (or a face id with --face-id)")
    p.add_argument("--face-id", action="store_true", help="IMAGE is the id of a stored face")
    p.add_argument("--max-faces", type=numbers.positive, default=10, help="most matches to return (default 10)")
    p.add_argument("--threshold", type=numbers.threshold,
                   help="cosine similarity (default: by error rate, FPIR 1%% at the collection's size, no looser "
                   "than FMR 1e-4 per comparison)")
    p.add_argument("--all-faces", action="store_true", help="search every face in the image, not just the largest")


def criteria(args: argparse.Namespace) -> dict[str, Any]:
    """The decision options every search takes: --max-fmr / --max-fpir and the audit notes."""
    return {"max_fmr": args.max_fmr, "max_fpir": args.max_fpir, "purpose": args.purpose, "reference": args.reference}


def asked(args: argparse.Namespace) -> bool:
    """The threshold was asked for (--threshold, --max-fmr or --max-fpir), not the default."""
    return any(getattr(args, name, None) is not None for name in ("threshold", "max_fmr", "max_fpir"))


def default_choice(args: argparse.Namespace, pack: PackInfo, result: Any) -> ThresholdChoice | None:
    """What the default would have chosen for this search, when a threshold was asked for: the
    threshold line says when the one asked for is looser."""
    if not asked(args):
        return None
    return thresholds.for_search(pack, result.threshold_choice.gallery_size or 0)


def cmd_search(args: argparse.Namespace, out: Output) -> int:
    with open_collection(args) as collection:
        if args.face_id:
            result: Any = collection.search_faces(args.image, args.max_faces, args.threshold, **criteria(args))
        else:
            result = collection.search_faces_by_image(args.image, args.max_faces, args.threshold,
                                                      all_faces=args.all_faces, **criteria(args))
        results = result if isinstance(result, list) else [result]
        default = default_choice(args, collection.pack, results[0])
    out.emit(result, lambda: [line for r in results for line in match_lines(r, asked(args), default)])
    return EXIT_OK
