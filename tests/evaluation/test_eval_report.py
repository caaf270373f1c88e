"""faceindex eval: the report's numbers against a hand computation, the HTML and its images, the CLI."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from collection_helpers import DIM, ScriptedEngine, face, scene_image
from PIL import Image

from faceindex.cli import main
from faceindex.errors import UsageError
from faceindex.thresholds.intervals import rate
from faceindex.evaluation.report import evaluate, threshold_at
from faceindex.evaluation.run import run_eval


def axis(k: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[k] = 1.0
    return v


def mix(*parts: tuple[float, int]) -> np.ndarray:
    v = sum(w * axis(k) for w, k in parts)
    return (v / np.linalg.norm(v)).astype(np.float32)


# Axes 0..4 are the identities A, B, C, D, E; 10.. are each image's private direction.
# Scores by hand: same axis weights multiply, everything else is orthogonal.
A, B, C, D, E = 0, 1, 2, 3, 4
VECTORS: dict[str, np.ndarray | None] = {
    "A/a1.png": axis(A),
    "A/a2.png": mix((0.9, A), (0.19**0.5, 10)),  # genuine A: 0.9
    "B/b1.png": axis(B),
    "B/b2.png": mix((0.5, B), (0.75**0.5, 11)),  # genuine B: 0.5
    "C/c1.png": axis(C),
    "C/c2.png": mix((0.7, C), (0.51**0.5, 12)),  # genuine C: 0.7
    "D/d1.png": mix((0.6, A), (0.8, 13)),  # impostor with a1: 0.6, with a2: 0.54
    "E/e1.png": None,  # no face: genuine E is a miss at every threshold
    "E/e2.png": axis(E),
}
GROUPS = "identity,group\nA,X\nD,X\nB,Y\nC,Y\nE,Y\n"


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[Path, ScriptedEngine, Path]:
    scenes = {}
    for number, (name, vector) in enumerate(VECTORS.items(), 1):
        path = tmp_path / "faces" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene_image(number)).save(path)
        scenes[number] = [] if vector is None else [(face(4, 4, 20), vector)]
    groups = tmp_path / "labels.csv"
    groups.write_text(GROUPS)
    return tmp_path / "faces", ScriptedEngine(scenes), groups


def test_numbers_match_the_hand_computation(labelled: tuple[Path, ScriptedEngine, Path], tmp_path: Path) -> None:
    folder, engine, groups = labelled
    report, html_path, json_path = run_eval(engine, folder, groups_file=str(groups), out_dir=tmp_path / "out",
                                            threshold=0.55, holdout=0.0, progress=False)
    assert (report.images, report.identities, report.images_without_face) == (9, 5, 1)
    ver = report.verification
    # 36 pairs: genuine A, B, C, E (4); impostor 32, of which 7 with e1 (no face).
    assert (ver.genuine_pairs, ver.impostor_pairs) == (4, 32)
    assert (ver.genuine_pairs_without_face, ver.impostor_pairs_without_face) == (1, 7)
    assert ver.fmr_resolution == pytest.approx(3 / 32)
    # 32 impostor pairs resolve no FMR below 3/32: every target is "not resolved".
    assert [p.resolved for p in ver.points] == [False] * 5
    assert all(p.threshold is None for p in ver.points)
    # Histogram: genuine 0.5, 0.7, 0.9 (E without a face is not drawn); impostor 0.54, 0.6 and 23 zeros.
    assert sum(ver.histogram.genuine) == 3 and sum(ver.histogram.impostor) == 25

    # 1:N, nothing held out: gallery a1, b1, c1, e2 (e1 has no face); mated a2, b2, c2, e1; non-mated d1.
    ident = report.identification
    assert ident is not None
    assert (ident.gallery, ident.mated_probes, ident.nonmated_probes) == (4, 4, 1)
    assert (ident.mated_probes_without_face, ident.nonmated_probes_without_face) == (1, 0)
    assert ident.rank1 == rate(3, 4)  # a2 -> a1 (0.9), b2 -> b1 (0.5), c2 -> c1 (0.7); e1 a miss
    assert [p.resolved for p in ident.points] == [False, False]  # one non-mated probe resolves nothing

    # Groups at 0.55: X = {A, D} (a1 a2 d1), Y = {B, C, E} (6 images).
    g = report.groups
    assert g is not None and g.threshold == 0.55 and "given" in g.threshold_source
    x, y = g.rows
    assert (x.group, x.identities, x.images, y.group, y.identities, y.images) == ("X", 2, 3, "Y", 3, 6)
    assert x.fmr == rate(1, 2)  # d1-a1 0.6 >= 0.55 matches, d1-a2 0.54 does not
    assert y.fmr == rate(0, 12)  # C(6,2) = 15 pairs, 3 of them genuine
    assert x.fnmr == rate(0, 1)  # A 0.9
    assert y.fnmr == rate(2, 3)  # B 0.5 and E (no face) missed, C 0.7 matched
    assert [(p.group_a, p.group_b, p.fmr) for p in g.between] == [("X", "Y", rate(0, 18))]
    assert g.between_all == rate(0, 18)
    # Overall FMR at 0.55 is 1/32; 3/2 and 3/12 are above it: neither group resolves its FMR, no ratio.
    assert not x.fmr_resolved and not y.fmr_resolved
    assert g.fmr_ratio is None and g.fnmr_ratio is None
    assert any("too few pairs" in n for n in g.notes)

    # The JSON holds the same numbers.
    data = json.loads(json_path.read_text())
    assert data["verification"]["impostor_pairs"] == 32
    assert data["identification"]["rank1"]["errors"] == 3
    assert data["groups"]["rows"][1]["fnmr"] == {"value": 2 / 3, "low": y.fnmr.low, "high": y.fnmr.high,
                                                 "errors": 2, "trials": 3}
    assert data["provenance"]["pack"]["name"] == "synthetic"
    assert data["provenance"]["images"] == 9 and data["provenance"]["identities"] == 5
    assert data["provenance"]["date_utc"].endswith("+00:00")
    assert {"compiler", "isas", "cpu"} <= set(data["provenance"]["build"])
    check_html(html_path, expected_images=3)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")
        self.tables += tag == "table"


def check_html(path: Path, expected_images: int) -> None:
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert len(parser.sources) == expected_images and parser.tables >= 2
    for src in parser.sources:
        assert src.startswith("data:image/png;base64,")  # self-contained: no file beside it
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        image.load()
        assert image.format == "PNG" and image.width > 100 and image.height > 100


def brute_force(scores: np.ndarray, same: np.ndarray, target: float) -> tuple[float, int, int]:
    """The threshold for FMR <= target by sorting every impostor score: (t, false matches, misses)."""
    impostor = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(target * len(impostor) + 1e-9))
    t = float(np.nextafter(impostor[allowed], np.inf))
    return t, int(np.sum(impostor >= t)), int(np.sum(scores[same] < t))


def test_operating_points_match_all_pairs_sorted() -> None:
    rng = np.random.default_rng(7)
    people, each = 40, 4
    centres = rng.standard_normal((people, DIM))
    emb = np.repeat(centres, each, axis=0) + 0.9 * rng.standard_normal((people * each, DIM))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    ids = [f"p{i // each:02d}" for i in range(people * each)]
    report = evaluate(emb, np.ones(len(ids), dtype=bool), ids, holdout=0.25)
    i, j = np.triu_indices(len(ids), 1)
    scores = np.einsum("ij,ij->i", emb[i].astype(np.float64), emb[j].astype(np.float64))
    same = np.array(ids)[i] == np.array(ids)[j]
    ver = report.verification
    assert (ver.genuine_pairs, ver.impostor_pairs) == (int(same.sum()), int((~same).sum()))  # 240, 12480
    for point in ver.points:
        assert point.resolved == (point.target >= 3 / 12480)  # 1e-2 and 1e-3 only
        if point.resolved:
            assert point.false_positive is not None and point.false_negative is not None
            t, false_matches, misses = brute_force(scores, same, point.target)
            assert point.threshold == pytest.approx(t, abs=1e-5)
            assert point.false_positive.errors == false_matches <= point.target * 12480
            assert point.false_negative.errors == misses
    # 1:N: 10 of 40 identities held out (40 non-mated probes), 30 in the gallery, 90 mated probes.
    ident = report.identification
    assert ident is not None and (ident.gallery, ident.mated_probes, ident.nonmated_probes) == (30, 90, 40)
    assert [p.resolved for p in ident.points] == [False, False]  # 3/40 > 1%


def test_plots_fit_the_data_and_draw_no_unmeasured_point() -> None:
    """Scores in 0.7..1 (a recognizer's usual range) give a histogram axis over those scores, not
    -1..1; where no genuine pair is missed, the DET draws no FNMR at all (it has no place on a log
    axis), and the rates the pairs cannot resolve are shaded and named."""
    from faceindex.evaluation.report_html import plots

    rng = np.random.default_rng(3)
    people, each = 30, 4
    base = rng.standard_normal(DIM)
    centres = base + 0.35 * rng.standard_normal((people, DIM))  # everyone alike: impostors score high
    emb = np.repeat(centres, each, axis=0) + 0.08 * rng.standard_normal((people * each, DIM))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    report = evaluate(emb, np.ones(len(emb), dtype=bool), [f"p{i // each}" for i in range(len(emb))])
    ver = report.verification
    edges = np.array(ver.histogram.edges)
    counts = np.array(ver.histogram.genuine) + np.array(ver.histogram.impostor)
    low, high = edges[np.flatnonzero(counts)[0]], edges[np.flatnonzero(counts)[-1] + 1]
    assert low > 0.5, "the data lie in the upper part of -1..1"
    figs = plots(report)
    try:
        (hist,) = figs["histogram"].axes
        left, right = hist.get_xlim()
        assert low - 0.03 <= left <= low and high <= right <= high + 0.03

        (det,) = figs["det"].axes
        bottom = det.get_ylim()[0]
        assert bottom == pytest.approx(0.5 / ver.genuine_pairs)
        (curve,) = [line for line in det.get_lines() if line.get_label() == "measured"]
        y = np.asarray(curve.get_ydata(), dtype=float)
        assert np.isnan(y).any(), "some FMRs miss no genuine pair: not drawn"
        assert np.all(y[~np.isnan(y)] >= 1 / ver.genuine_pairs)  # nothing drawn below one miss
        labels = [t.get_text() for t in det.get_legend().get_texts()]
        assert f"FNMR not resolved: below 3/n, n = {ver.genuine_pairs:,}" in labels
        assert f"FMR not resolved: below 3/n, n = {ver.impostor_pairs:,}" in labels

        (roc,) = figs["roc"].axes
        tmr = 1 - np.array([n for f, n in zip(ver.curve.fmr, ver.curve.fnmr) if f > 0])
        assert roc.get_ylim()[0] >= tmr.min() - 0.1 * (1 - tmr.min()) - 0.006 and roc.get_ylim()[1] <= 1.03
    finally:
        import matplotlib.pyplot as plt

        for fig in figs.values():
            plt.close(fig)


def test_threshold_at_counts_ties_as_matches() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.5])
    assert threshold_at(scores, 100, 0.01) == np.nextafter(0.8, 1)  # one may pass: only 0.9 does
    assert threshold_at(scores, 100, 0.02) == np.nextafter(0.8, 1)  # two may pass, not three (the tie)
    assert threshold_at(scores, 100, 0.03) == np.nextafter(0.5, 1)


def test_without_matplotlib_the_command_says_what_to_install(
        labelled: tuple[Path, ScriptedEngine, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["eval", str(labelled[0]), "--out", str(tmp_path / "out")], stdout, stderr)
    assert code in (1, 4)
    assert "pip install 'faceindex[eval]'" in stderr.getvalue()


@pytest.fixture(scope="module")
def lfw_people(data_file: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """12 LFW people with 3 to 6 photos each (a folder of links), their groups file and the photo count."""
    lfw = data_file("lfw/images")
    people = sorted(p for p in lfw.iterdir() if p.is_dir() and 3 <= len(list(p.iterdir())) <= 6)[:12]
    assert len(people) == 12
    tmp = tmp_path_factory.mktemp("lfw-people")
    folder = tmp / "faces"
    folder.mkdir()
    for person in people:
        (folder / person.name).symlink_to(person, target_is_directory=True)
    labels = tmp / "labels.csv"
    labels.write_text("".join(f"{p.name},{'first' if k < 6 else 'second'}\n" for k, p in enumerate(people)))
    return folder, labels, sum(len(list(p.iterdir())) for p in people)


def test_groups_without_a_resolvable_threshold_is_a_usage_error(lfw_people: tuple[Path, Path, int],
                                                                tmp_path: Path) -> None:
    """Said at once (exit 2, before any photo is embedded), with what to give."""
    folder, labels, images = lfw_people
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["eval", str(folder), "--pack", "dlib", "--groups", str(labels), "--out", str(tmp_path / "out")],
                stdout, stderr)
    assert code == 2 and stdout.getvalue() == ""
    impostor_pairs = images * (images - 1) // 2 - sum(
        n * (n - 1) // 2 for n in (len(list(p.iterdir())) for p in folder.iterdir()))
    assert stderr.getvalue() == (
        f"faceindex: error: --groups compares the groups at the threshold where FMR = 0.001, and {impostor_pairs:,} "
        "impostor pairs do not resolve that rate (at least 3,000 are needed): give --threshold (a cosine similarity, "
        "such as the pack's compare threshold), or more images\n")
    assert not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match="give threshold="):
        evaluate(np.eye(4, dtype=np.float32), np.ones(4, dtype=bool), ["a", "a", "b", "b"], groups={"a": "x"})


@pytest.mark.slow
def test_cli_on_real_faces(lfw_people: tuple[Path, Path, int], tmp_path: Path) -> None:
    folder, labels, images = lfw_people
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["eval", str(folder), "--pack", "dlib", "--groups", str(labels), "--threshold", "0.93",
                 "--out", str(tmp_path / "out"), "--no-progress"], stdout, stderr)
    assert code == 0, stderr.getvalue()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["images"] == images and data["identities"] == 12
    assert data["provenance"]["pack"]["name"] == "dlib"
    assert [r["group"] for r in data["groups"]["rows"]] == ["first", "second"]
    assert data["identification"]["rank1"]["value"] >= 0.8  # dlib on LFW crops: nearly every probe
    ver = data["verification"]

    # What a person reads: the counts, each operating point measured or said not resolved, 1:N, groups.
    lines = stdout.getvalue().splitlines()
    assert lines[0] == f"{images} images, 12 identities, {data['images_without_face']} without a face"
    assert lines[1] == f"verification: {ver['genuine_pairs']} genuine pairs, {ver['impostor_pairs']:,} impostor pairs"
    assert lines[2].startswith("FNMR at FMR 0.01: ") and "(threshold 0." in lines[2]  # 1,000+ pairs resolve 1%
    assert lines[3:7] == [f"FNMR at FMR {t:g}: not resolved ({ver['impostor_pairs']:,} impostor pairs resolve FMR "
                          f"down to {3 / ver['impostor_pairs']:.2g})" for t in (1e-3, 1e-4, 1e-5, 1e-6)]
    ident = data["identification"]
    rank1 = ident["rank1"]
    assert lines[7] == (f"identification: gallery {ident['gallery']}, rank-1 {rank1['value']:.3g} "
                        f"[{rank1['low']:.3g}, {rank1['high']:.3g}] ({rank1['errors']}/{rank1['trials']})")
    assert any(line.startswith("groups at threshold 0.9300 (given): first FMR ") for line in lines)
    assert lines[-2:] == [f"report: {tmp_path / 'out' / 'report.html'}", f"json:   {tmp_path / 'out' / 'report.json'}"]

    # The report names its source and the photos it could not read without this machine's folders.
    source = data["provenance"]["source"]
    assert source["name"] == "faces" and re.fullmatch(r"sha256:[0-9a-f]{64}", source["fingerprint"])
    for text in ((tmp_path / "out" / "report.json").read_text(), (tmp_path / "out" / "report.html").read_text()):
        assert str(folder) not in text and "shared/data" not in text and str(Path.home()) not in text
    check_html(tmp_path / "out" / "report.html", expected_images=3)


def test_pairs_file(tmp_path: Path) -> None:
    # LFW layout: images/Name/Name_0001.jpg (a flat grey image's JPEG keeps its value: the scene number).
    vectors = {("A", 1): axis(A), ("A", 2): VECTORS["A/a2.png"], ("B", 1): axis(B), ("B", 2): VECTORS["B/b2.png"],
               ("C", 1): axis(C), ("D", 1): VECTORS["D/d1.png"], ("E", 1): None}
    scenes = {}
    for number, ((name, i), vector) in enumerate(vectors.items(), 1):
        path = tmp_path / "images" / name / f"{name}_{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene_image(number * 20)).save(path, quality=100)
        scenes[number * 20] = [] if vector is None else [(face(4, 4, 20), vector)]
    pairs = tmp_path / "pairs.txt"
    # genuine 0.9, 0.5; impostor 0.6 (A-D), 0 (C-B), and one with E (no face: a correct rejection)
    pairs.write_text("1\tA\t1\t2\n1\tB\t1\t2\n2\tA\t1\tD\t1\n2\tC\t1\tB\t2\n2\tE\t1\tC\t1\n")
    groups = tmp_path / "labels.csv"
    groups.write_text(GROUPS)
    report, html_path, _ = run_eval(ScriptedEngine(scenes), pairs, groups_file=str(groups), threshold=0.55,
                                    out_dir=tmp_path / "out", progress=False)
    ver = report.verification
    assert (ver.genuine_pairs, ver.impostor_pairs, ver.impostor_pairs_without_face) == (2, 3, 1)
    assert (report.images, report.images_without_face) == (7, 1) and report.identification is None
    g = report.groups
    assert g is not None
    x, y = g.rows
    # X: A-D 0.6 >= 0.55 (1/1); Y: C-B 0 and E-C without a face (0/2); FNMR: A 0.9 (0/1), B 0.5 (1/1).
    assert (x.fmr, y.fmr, x.fnmr, y.fnmr) == (rate(1, 1), rate(0, 2), rate(0, 1), rate(1, 1))
    assert g.between_all == rate(0, 0)  # every impostor pair lies within one group
    check_html(html_path, expected_images=3)
