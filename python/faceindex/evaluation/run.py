"""`faceindex eval` end to end: read the source, embed each image once (with a progress bar),
compute the report, write report.html and report.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceindex.engine import FaceEngine
from faceindex.errors import CalibrationError, InputError
from faceindex.evaluation.lfw import read_pairs
from faceindex.evaluation.normalised_scores import GroupCohorts
from faceindex.evaluation.report import EvalReport, check_groups, evaluate, evaluate_pairs, impostor_pair_count
from faceindex.evaluation.report_html import require_matplotlib, write_report
from faceindex.evaluation.sources import embed_images, identity_folder, provenance, read_groups
from faceindex.progress import ProgressBar


def run_eval(engine: FaceEngine, source: Path, pairs: bool = False, groups_file: str | None = None,
             out_dir: str | Path = "eval-report", threshold: float | None = None, holdout: float = 0.1,
             progress: bool | None = None) -> tuple[EvalReport, Path, Path]:
    require_matplotlib()  # before minutes of embedding, not after
    if not 0.0 <= holdout < 1.0:
        raise InputError(f"--gallery-split must be in [0, 1), got {holdout}")
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    groups = read_groups(groups_file) if groups_file else None
    if pairs or source.is_file():
        listed = read_pairs(source)
        if not listed:
            raise InputError(f"{source.name}: no pairs")
        unique = sorted({p for pair in listed for p in (pair.image_a, pair.image_b)})
        items = [(p, p.parent.name) for p in unique]
        impostor_pairs = sum(not p.same for p in listed)
    else:
        items = identity_folder(source)
        impostor_pairs = impostor_pair_count([name for _, name in items])
    if groups is not None:  # before minutes of embedding
        check_groups(impostor_pairs, threshold)
    root = source if source.is_dir() else source.parent
    bar = ProgressBar(len(items), "embedding", enabled=progress)
    try:
        embedded = embed_images(engine, items, on_image=lambda p: bar.advance(p.name), root=root)
        bar.finish()
    finally:
        bar.close()
    mode = "pairs" if pairs or source.is_file() else "identity folder"
    options = {"groups": Path(groups_file).name if groups_file else None, "threshold": threshold,
               "gallery_split": holdout}
    info = provenance(engine, source, [p for p, _ in items], len(set(embedded.identities)), mode, options)
    info["unreadable_images"] = embedded.failures
    if mode == "pairs":
        row = {p: i for i, p in enumerate(embedded.paths)}
        a = np.array([row[p.image_a] for p in listed])
        b = np.array([row[p.image_b] for p in listed])
        e, f = embedded.embeddings.astype(np.float64), embedded.has_face
        similarity = np.where(f[a] & f[b], np.einsum("ij,ij->i", e[a], e[b]), -np.inf)
        folds = np.array([p.fold for p in listed])
        normalised, how = _normalised_pairs(embedded.embeddings, f, a, b, folds, similarity)
        report = evaluate_pairs(similarity, [p.same for p in listed], [embedded.identities[i] for i in a],
                                [embedded.identities[i] for i in b], groups, threshold, len(items),
                                int(np.sum(~f)), info, normalised, folds, how)
    else:
        report = evaluate(embedded.embeddings, embedded.has_face, embedded.identities, groups, threshold,
                          holdout, info)
    html_path, json_path = write_report(report, out_dir)
    return report, html_path, json_path


def _normalised_pairs(embeddings: np.ndarray, has_face: np.ndarray, a: np.ndarray, b: np.ndarray, folds: np.ndarray,
                      similarity: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Each listed pair's AS-norm score, against a cohort from the folds that hold neither of its photos
    (a photo's fold: the fold of the pairs it is in; folds are identity-disjoint). None and why, where
    the folds are too few or too small."""
    image_fold = np.full(len(embeddings), -1, dtype=np.int64)
    image_fold[a], image_fold[b] = folds, folds
    if np.any(image_fold < 0) or len({int(g) for g in folds}) < 3:
        return None, "not measured: AS-norm needs a pairs file of three or more identity-disjoint folds"
    try:
        cohorts = GroupCohorts(embeddings, has_face, image_fold)
    except CalibrationError as e:
        return None, f"not measured: {e}"
    z = cohorts.normalise(a, b, np.where(np.isfinite(similarity), similarity, 0.0))
    return np.where(np.isfinite(similarity), z, -np.inf), cohorts.describe()
