"""`faceindex calibrate` and `faceindex eval`: a pack's error rates measured on labelled photos."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from faceindex.cli import numbers
from faceindex.cli.common import OptionGroups, Output, add_command, make_engine, plural
from faceindex.errors import EXIT_OK


def add_calibrate(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "calibrate", cmd_calibrate, "measure a pack's false-match and false-non-match rates on "
                    "a folder of labelled photos (one sub-folder per person)", [groups.common, groups.engine])
    p.add_argument("--images", required=True, help="folder with one sub-folder of photos per person")
    p.add_argument("--out", help="where to write the table (default: the user's calibration folder, where "
                   "faceindex finds it)")
    p.add_argument("--dataset", help="how to name the photos in the table's provenance (default: the folder's name)")
    p.add_argument("--as-norm", action=argparse.BooleanOptionalAction, default=True,
                   help="also the table of AS-norm scores, beside the cosine one (default: yes; it needs photos of "
                        "at least a few hundred people)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def add_eval(commands: argparse._SubParsersAction[argparse.ArgumentParser], groups: OptionGroups) -> None:
    p = add_command(commands, "eval", cmd_eval, "evaluate a pack on labelled faces: an HTML and JSON report",
                    [groups.common, groups.engine])
    p.add_argument("source", help="a folder with one sub-folder of images per identity, or a pairs file")
    p.add_argument("--pairs", action="store_true", help="SOURCE is a pairs file (the default when it is a file)")
    p.add_argument("--groups", help="CSV of identity,group rows: rates per group at one threshold (--threshold, "
                   "or where FMR = 1e-3, which needs at least 3,000 impostor pairs)")
    p.add_argument("--out", default="eval-report", help="folder for report.html and report.json")
    p.add_argument("--threshold", type=numbers.threshold, help="the groups' threshold (default: where FMR = 1e-3)")
    p.add_argument("--gallery-split", type=float, default=0.1, metavar="SHARE",
                   help="1:N: share of multi-image identities held out of the gallery as non-mated (default 0.1)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def cmd_calibrate(args: argparse.Namespace, out: Output) -> int:
    from faceindex import thresholds
    from faceindex.evaluation.calibrate import calibrate, labelled_photos
    from faceindex.thresholds import CalibrationTable
    from faceindex.progress import ProgressBar

    engine = make_engine(args)
    bar = ProgressBar(len(labelled_photos(Path(args.images))), "embedding", enabled=args.progress)
    try:
        table, normalised = calibrate(engine, Path(args.images), args.dataset or Path(args.images).resolve().name,
                                      on_photo=lambda p: bar.advance(p.name), as_norm=args.as_norm)
    finally:
        bar.close()
    path = Path(args.out) if args.out else thresholds.user_dir() / thresholds.table_file_name(engine.pack.ref)
    table.save(path)
    written = [(path, table)]
    if isinstance(normalised, CalibrationTable):  # beside the cosine table, named for it (thresholds/tables.py)
        written.append((path.with_name(path.name.removesuffix(".json") + ".as-norm.json"), normalised))
        normalised.save(written[-1][0])
    thresholds.forget_loaded_tables()
    points = [_points(t) for _, t in written]
    report: list[dict[str, Any]] = [
        {"table": str(where), "score": t.score, "pack": engine.pack.ref, "impostor_pairs": t.impostor_pairs,
         "genuine_pairs": t.genuine_pairs, "resolved_fmr": t.resolved_fmr, "operating_points": rows}
        for (where, t), (rows, _) in zip(written, points)]

    def lines() -> list[str]:
        out_lines = []
        for (where, t), (rows, unresolved) in zip(written, points):
            out_lines += [f"wrote {where}: {t.source}", f"rates resolved down to FMR {t.resolved_fmr:.2g}"]
            out_lines += [f"  FMR {r['fmr']:g}: threshold {r['threshold']:.4f}, FNMR {r['fnmr']}"
                          + (" (fitted tail)" if r["beyond_table"] else "") for r in rows]
            out_lines += [f"  FMR {fmr:g}: not resolved by {plural(t.impostor_pairs, 'impostor pair')}, and the "
                          "fitted tail is not trusted that far" for fmr in unresolved]
        if isinstance(normalised, str):
            out_lines.append(normalised)
        return out_lines

    out.emit(report[0] | {"as_norm": report[1] if len(report) > 1 else normalised}, lines)
    return EXIT_OK


def _points(table: Any) -> tuple[list[dict[str, Any]], list[float]]:
    """A table's operating points at FMR 1e-3 to 1e-6, and the rates it cannot resolve."""
    rows, unresolved = [], []
    for fmr in (1e-3, 1e-4, 1e-5, 1e-6):
        try:
            t, beyond = table.threshold_for_fmr(fmr)
        except ValueError:
            unresolved.append(fmr)
            continue
        rows.append({"fmr": fmr, "threshold": t, "fnmr": table.fnmr_at(t), "beyond_table": beyond})
    return rows, unresolved


def cmd_eval(args: argparse.Namespace, out: Output) -> int:
    from faceindex.evaluation.run import run_eval

    report, html_path, json_path = run_eval(make_engine(args), Path(args.source), args.pairs, args.groups, args.out,
                                            args.threshold, args.gallery_split, args.progress)
    ver = report.verification
    points = [p for p in ver.points if p.resolved]
    pipes = report.pipelines
    crossed = pipes.cross_validated if pipes is not None else {}

    def side_by_side() -> list[str]:
        if not crossed:
            return []
        lines = ["cross-validated FNMR (thresholds chosen on other people): cosine | AS-norm"]
        for k, point in enumerate(crossed.get("cosine", [])):
            other = crossed["as-norm"][k] if "as-norm" in crossed else None
            cells = [str(p.fnmr) if p is not None and p.resolved else "not resolved" for p in (point, other)]
            lines.append(f"  FMR {point.target:g}: {cells[0]} | {cells[1] if other is not None else '-'}")
        if pipes is not None and "as-norm" not in crossed:
            lines.append(f"  AS-norm {pipes.normalisation}")
        return lines

    def point_line(p: Any, fp: str, fn: str, trials: int, kind: str) -> str:
        if not p.resolved:
            verb = "resolves" if trials == 1 else "resolve"
            floor = 3 / max(trials, 1)  # the rule of three: k = 0 of n resolves rates down to about 3/n
            reach = f"{verb} {fp} down to {floor:.2g}" if floor < 1 else f"{'does' if trials == 1 else 'do'} not resolve any {fp}"
            return f"{fn} at {fp} {p.target:g}: not resolved ({plural(trials, kind)} {reach})"
        return f"{fn} at {fp} {p.target:g}: {p.false_negative} (threshold {p.threshold:.4f})"

    def human() -> list[str]:
        lines = [f"{plural(report.images, 'image')}, {plural(report.identities, 'identity', 'identities')}, "
                 f"{report.images_without_face:,} without a face",
                 f"verification: {plural(ver.genuine_pairs, 'genuine pair')}, "
                 f"{plural(ver.impostor_pairs, 'impostor pair')}"]
        lines += [point_line(p, "FMR", "FNMR", ver.impostor_pairs, "impostor pair") for p in ver.points]
        ident = report.identification
        if ident is not None:
            lines.append(f"identification: gallery {ident.gallery:,}, rank-1 {ident.rank1}")
            lines += [point_line(p, "FPIR", "FNIR", ident.nonmated_probes, "non-mated probe") for p in ident.points]
        if report.groups is not None:
            g = report.groups
            lines.append(f"groups at threshold {g.threshold:.4f} ({g.threshold_source}): "
                         + ", ".join(f"{r.group} FMR {r.fmr.value:.2g} FNMR {r.fnmr.value:.2g}" for r in g.rows))
        return lines + side_by_side() + [f"report: {html_path}", f"json:   {json_path}"]

    out.emit({"html": html_path, "json": json_path, "verification": points, "identification": report.identification,
              "pipelines": pipes}, human)
    return EXIT_OK
