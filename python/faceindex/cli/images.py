"""`faceindex compare A B` and `faceindex detect IMAGE`: faces of images, no collection."""

from __future__ import annotations

import argparse

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, box, inference, make_engine, plural
from faceindex.cli.results import normalised_lines, threshold_line
from faceindex.errors import EXIT_OK


def add_compare(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "compare", cmd_compare, "compare the largest faces of two images",
                    [groups.common, groups.engine, groups.decision])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--threshold", type=numbers.threshold,
                   help="cosine similarity (default: by error rate, FMR 1e-4 per comparison)")


def add_detect(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    add_command(commands, "detect", cmd_detect, "detect the faces in an image",
                [groups.common, groups.engine]).add_argument("image")


def cmd_compare(args: argparse.Namespace, out: Output) -> int:
    from faceindex import thresholds

    engine = make_engine(args)
    c = engine.compare(args.a, args.b, threshold=args.threshold, max_fmr=args.max_fmr)
    asked = args.threshold is not None or args.max_fmr is not None
    default = thresholds.for_comparison(engine.pack) if asked else None

    def human() -> list[str]:
        score = f" (AS-norm score {c.score:.4f})" if c.normalisation.applied and c.score is not None else ""
        verdict = ("same person: similarity {s:.4f}{z}, at or above" if c.same_person
                   else "different people: similarity {s:.4f}{z}, below").format(s=c.similarity, z=score)
        return [f"{verdict} the threshold {c.threshold:.4f}", threshold_line(c, asked, default),
                *normalised_lines(c)]

    out.emit(c, human)
    return EXIT_OK


def cmd_detect(args: argparse.Namespace, out: Output) -> int:
    engine = make_engine(args)
    faces = engine.detect(args.image)
    out.emit({"faces": faces, "pack": engine.pack.ref, "inference": inference(engine)}, lambda: [
        plural(len(faces), "face")] + [f"  {box(f.bbox)} score {f.score:.3f} size {f.face_size:.0f}px "
                                  f"sharpness {f.sharpness:.1f} brightness {f.brightness:.2f}" for f in faces])
    return EXIT_OK
