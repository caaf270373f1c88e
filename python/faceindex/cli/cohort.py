"""`faceindex cohort build DIR`: the cohort compare and small collections normalise scores against."""

from __future__ import annotations

import argparse
from pathlib import Path

from faceindex.cli.common import OptionGroups, Output, add_command, make_engine
from faceindex.errors import EXIT_OK


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    parent = commands.add_parser("cohort", help="the cohort of faces scores are normalised against (AS-norm)")
    sub = parent.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = add_command(sub, "build", cmd_build, "build a cohort from a folder of photos of many people (the largest "
                    "face of each photo; at most 1,000 are kept, at random)", [groups.common, groups.engine])
    p.add_argument("folder", help="a folder of photos (searched recursively)")
    p.add_argument("--out", help="where to write it (default: the user's cohort folder, where compare and "
                   "collections find it)")
    p.add_argument("--seed", type=int, default=0, help="the sample of 1,000 faces taken from more (default 0)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def cmd_build(args: argparse.Namespace, out: Output) -> int:
    from faceindex.evaluation.cohort_build import build_cohort, photos_under
    from faceindex.progress import ProgressBar
    from faceindex.thresholds import cohorts

    engine = make_engine(args)
    bar = ProgressBar(len(photos_under(Path(args.folder))), "embedding", enabled=args.progress)
    try:
        cohort, photos, missed = build_cohort(engine, Path(args.folder), args.seed,
                                              on_photo=lambda p: bar.advance(p.name))
    finally:
        bar.close()
    path = Path(args.out) if args.out else cohorts.cohort_path(engine.pack.ref)
    cohorts.save_cohort(cohort, path)
    cohorts.forget_loaded_cohorts()
    without = f"{missed} without a face" if missed != 1 else "1 without a face"
    out.emit({"cohort": str(path), "pack": engine.pack.ref, "faces": cohort.size, "top_k": cohort.top_k,
              "cohort_id": cohort.digest, "photos": photos, "photos_without_a_face": missed},
             lambda: [f"wrote {path}: a cohort of {cohort.size:,} faces (top {cohort.top_k}) for pack {engine.pack.ref}, "
                      f"from {photos:,} photos ({without}); cohort {cohort.digest}",
                      "it holds embeddings of the people in those photos: keep it as you keep the photos"])
    return EXIT_OK
