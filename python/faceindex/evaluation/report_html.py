"""An EvalReport as one self-contained HTML file (figures as base64 PNG) and report.json.

matplotlib (the `eval` extra) is imported here only, with the Agg backend.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from faceindex.errors import FaceIndexError
from faceindex.thresholds.intervals import Rate
from faceindex.evaluation.cross_validation import CrossValidatedPoint
from faceindex.evaluation.report import EvalReport, OperatingPoint, Verification


class MissingExtraError(FaceIndexError):
    """An optional dependency is not installed."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("faceindex eval draws its figures with matplotlib: "
                                "pip install 'faceindex[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def require_matplotlib() -> None:
    _pyplot()


def to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(report: EvalReport, out_dir: str | Path) -> tuple[Path, Path]:
    """report.html and report.json in out_dir (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(json.dumps(to_json(report), indent=2), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return html_path, json_path


def _png(fig: Any) -> str:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


_UNRESOLVED = dict(facecolor="0.88", hatch="//", edgecolor="0.65", linewidth=0)


def _unresolved_fmr(ax: Any, impostor_pairs: int, low: float) -> None:
    """Shade the FMRs the impostor pairs do not resolve (below 3/n): drawn as not resolved, never as values."""
    resolved = min(3.0 / max(impostor_pairs, 1), 1.0)
    if resolved > low:
        ax.axvspan(low, resolved, label=f"FMR not resolved: below 3/n, n = {impostor_pairs:,}", **_UNRESOLVED)


def _curve(ver: Verification) -> tuple[list[float], list[float]]:
    floor = 1.0 / max(ver.impostor_pairs, 1)
    pts = [(f, n) for f, n in zip(ver.curve.fmr, ver.curve.fnmr) if f > 0]
    return [p[0] for p in pts] or [floor], [p[1] for p in pts] or [1.0]


def figures(report: EvalReport) -> dict[str, str]:
    """The report's figures as PNG data URLs."""
    return {name: _png(fig) for name, fig in plots(report).items()}


def plots(report: EvalReport) -> dict[str, Any]:
    """ROC, DET and the score histograms (matplotlib Figures), each fitted to the data. Where
    the pairs do not resolve a rate (below 3/n of them), the region is shaded and named, and an
    FNMR of 0 (no genuine pair missed there) is not drawn on the DET's log axis as if it were a value."""
    plt = _pyplot()
    ver = report.verification
    n_imp, n_gen = max(ver.impostor_pairs, 1), max(ver.genuine_pairs, 1)
    floor = 1.0 / n_imp  # the smallest FMR one false match makes
    pts = [(f, n) for f, n in zip(ver.curve.fmr, ver.curve.fnmr) if f > 0]
    fmr, fnmr = _curve(ver)
    curves = [("measured", fmr, fnmr)]
    if report.pipelines is not None and report.pipelines.as_norm is not None:  # side by side (issue 29)
        curves = [("cosine", fmr, fnmr), ("AS-norm", *_curve(report.pipelines.as_norm))]
    out: dict[str, Any] = {}

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, x, y in curves:
        ax.plot(x, [1 - v for v in y], drawstyle="steps-post", label=label)
    ax.set_xscale("log")
    ax.set_xlim(floor, 1)
    _unresolved_fmr(ax, n_imp, floor)
    low = min(1 - v for v in fnmr)
    ax.set_ylim(max(0.0, low - 0.1 * (1 - low) - 0.005), 1.0 + 0.02 * (1 - low) + 0.001)
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("true match rate (1 - FNMR)")
    ax.set_title("ROC")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    out["roc"] = fig

    fig, ax = plt.subplots(figsize=(6, 4.5))
    # An FNMR of 0 has no place on a log axis: those points are left out (the line stops) and the
    # band below 3/n genuine pairs says what the pairs cannot tell apart from 0.
    for label, x, y in curves:
        ax.plot(x, [v if v > 0 else float("nan") for v in y], drawstyle="steps-post", label=label)
    bottom = 0.5 / n_gen
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(bottom, 1)
    _unresolved_fmr(ax, n_imp, floor)
    ax.axhspan(bottom, min(3.0 / n_gen, 1.0), label=f"FNMR not resolved: below 3/n, n = {ver.genuine_pairs:,}",
               **_UNRESOLVED)
    zero = [f for f, n in pts if n == 0]
    if zero:
        ax.annotate(f"no genuine pair missed from FMR {min(zero):.2g} on", (min(zero), bottom), xytext=(0, 18),
                    textcoords="offset points", ha="right", fontsize="small",
                    arrowprops=dict(arrowstyle="->", color="0.3"))
    ax.set_xlabel("false match rate (FMR)")
    ax.set_ylabel("false non-match rate (FNMR)")
    ax.set_title("DET")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    out["det"] = fig

    fig, ax = plt.subplots(figsize=(6, 4.5))
    edges = ver.histogram.edges
    used = [i for i, (g, m) in enumerate(zip(ver.histogram.genuine, ver.histogram.impostor)) if g or m]
    for counts, label in ((ver.histogram.impostor, "impostor"), (ver.histogram.genuine, "genuine")):
        total = max(sum(counts), 1)
        ax.stairs([c / total for c in counts], edges, label=f"{label} ({sum(counts):,} pairs)", fill=True, alpha=0.5)
    if used:  # the axis spans the scores there are, with two bins either side
        width = edges[1] - edges[0]
        ax.set_xlim(max(edges[0], edges[used[0]] - 2 * width), min(edges[-1], edges[used[-1] + 1] + 2 * width))
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("share of pairs")
    ax.set_title("score distributions (pairs with a face in both images)")
    ax.legend(loc="upper left", fontsize="small")
    out["histogram"] = fig
    return out


def _rate(r: Rate | None) -> str:
    if r is None:
        return "-"
    return f"{r.value:.4g} [{r.low:.3g}, {r.high:.3g}] <span class=n>({r.errors:,}/{r.trials:,})</span>"


def _point_rows(points: list[OperatingPoint], fp: str, fn: str) -> str:
    rows = [f"<tr><th>target {fp}</th><th>threshold</th><th>{fp} measured</th><th>{fn}</th></tr>"]
    for p in points:
        if not p.resolved:
            rows.append(f"<tr><td>{p.target:g}</td><td colspan=3>not resolved (too few trials: below 3/n)</td></tr>")
        else:
            rows.append(f"<tr><td>{p.target:g}</td><td>{p.threshold:.4f}</td><td>{_rate(p.false_positive)}</td>"
                        f"<td>{_rate(p.false_negative)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _side_by_side(report: EvalReport) -> list[str]:
    """Cosine and AS-norm: FNMR at each FMR, cross-validated and on all the pairs."""
    pipes = report.pipelines
    if pipes is None:
        return []
    e = html.escape

    def cv_cell(points: list[CrossValidatedPoint] | None, target: float) -> str:
        point = next((p for p in points or [] if p.target == target), None)
        if point is None:
            return "<td>-</td>"
        if not point.resolved:
            return "<td>not resolved</td>"
        return f"<td>FNMR {_rate(point.fnmr)}<br><span class=n>FMR on held-out people {_rate(point.fmr)}</span></td>"

    def oracle_cell(ver: Verification | None, target: float) -> str:
        point = next((p for p in ver.points if p.target == target), None) if ver is not None else None
        if point is None:
            return "<td>-</td>"
        return "<td>not resolved</td>" if not point.resolved else f"<td>{_rate(point.false_negative)}</td>"

    targets = sorted({p.target for points in pipes.cross_validated.values() for p in points}, reverse=True)
    rows = ["<tr><th>target FMR</th><th>cosine, cross-validated</th><th>AS-norm, cross-validated</th>"
            "<th>cosine, threshold on all pairs</th><th>AS-norm, threshold on all pairs</th></tr>"]
    for t in targets:
        rows.append(f"<tr><td>{t:g}</td>{cv_cell(pipes.cross_validated.get('cosine'), t)}"
                    f"{cv_cell(pipes.cross_validated.get('as-norm'), t)}{oracle_cell(report.verification, t)}"
                    f"{oracle_cell(pipes.as_norm, t)}</tr>")
    return ["<h2>Cosine and AS-norm scores side by side</h2>",
            f"<p>AS-norm: {e(pipes.normalisation)}. Cross-validated: {e(pipes.cross_validation)}.</p>",
            "<table>" + "".join(rows) + "</table>"]


def render_html(report: EvalReport) -> str:
    e = html.escape
    figs = figures(report)
    ver = report.verification
    parts = [
        "<!doctype html><html><head><meta charset=utf-8><title>faceindex evaluation</title><style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
        ".n{color:#666;font-size:.9em}img{max-width:100%}pre{background:#f4f4f4;padding:1em;overflow:auto}"
        "</style></head><body>",
        "<h1>faceindex evaluation</h1>",
        f"<p>{report.images:,} images of {report.identities:,} identities; {report.images_without_face:,} "
        f"images without a face (a pair with one is a non-match, a probe without one a miss). "
        "Rates are given with their 95% Wilson interval and their counts (errors/trials).</p>",
    ]
    parts += [f"<p><b>Note:</b> {e(n)}</p>" for n in report.notes]
    parts += [
        "<h2>Verification (1:1)</h2>",
        f"<p>{ver.genuine_pairs:,} genuine pairs ({ver.genuine_pairs_without_face:,} with an image without a face), "
        f"{ver.impostor_pairs:,} impostor pairs ({ver.impostor_pairs_without_face:,} with an image without a face). "
        f"The smallest FMR these impostor pairs resolve is about {ver.fmr_resolution:.2g} (3/n).</p>",
        _point_rows(ver.points, "FMR", "FNMR"),
        *_side_by_side(report),
        f"<img alt=ROC src='{figs['roc']}'><img alt=DET src='{figs['det']}'>",
        f"<img alt='score histogram' src='{figs['histogram']}'>",
    ]
    ident = report.identification
    if ident is not None:
        parts += [
            "<h2>Identification (1:N)</h2>",
            f"<p>{e(ident.split)}</p>",
            f"<p>gallery {ident.gallery:,}; mated probes {ident.mated_probes:,} ({ident.mated_probes_without_face:,} "
            f"without a face); non-mated probes {ident.nonmated_probes:,} ({ident.nonmated_probes_without_face:,} "
            "without a face)</p>",
            f"<p>rank-1 identification rate: {_rate(ident.rank1)} (hits/mated probes)</p>",
            _point_rows(ident.points, "FPIR", "FNIR"),
        ]
    groups = report.groups
    if groups is not None:
        rows = ["<tr><th>group</th><th>identities</th><th>images</th><th>FMR within the group</th><th>FNMR</th>"
                "<th>resolved</th></tr>"]
        for r in groups.rows:
            flag = "yes" if r.fmr_resolved and r.fnmr_resolved else (
                "FMR: too few impostor pairs" if not r.fmr_resolved else "FNMR: too few genuine pairs")
            rows.append(f"<tr><td>{e(r.group)}</td><td>{r.identities:,}</td><td>{r.images:,}</td>"
                        f"<td>{_rate(r.fmr)}</td><td>{_rate(r.fnmr)}</td><td>{flag}</td></tr>")
        between = ["<tr><th>groups</th><th>FMR between them</th></tr>"] + [
            f"<tr><td>{e(p.group_a)} / {e(p.group_b)}</td><td>{_rate(p.fmr)}</td></tr>" for p in groups.between]
        between.append(f"<tr><td>all pairs across groups</td><td>{_rate(groups.between_all)}</td></tr>")

        def ratio(v: float | None) -> str:
            return "not given" if v is None else f"{v:.3g}"

        parts += [
            "<h2>Groups (demographic differentials)</h2>",
            f"<p>One fixed threshold {groups.threshold:.4f} ({e(groups.threshold_source)}), as NIST IR 8280 "
            "shows differentials: FMR within and between groups, FNMR per group, and the ratio of the highest "
            "to the lowest rate.</p>",
            "<table>" + "".join(rows) + "</table>",
            "<table>" + "".join(between) + "</table>",
            f"<p>highest / lowest FMR: {ratio(groups.fmr_ratio)}; highest / lowest FNMR: "
            f"{ratio(groups.fnmr_ratio)}</p>",
        ]
        parts += [f"<p><b>Note:</b> {e(n)}</p>" for n in groups.notes]
    parts += ["<h2>Provenance</h2>", f"<pre>{e(json.dumps(to_json(report.provenance), indent=2))}</pre>",
              "</body></html>"]
    return "\n".join(parts)
