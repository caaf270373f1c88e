"""`faceindex eval` end to end: read the source, embed each image once (with a progress bar),
compute the report, write report.html and report.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceindex.engine import FaceEngine
from faceindex.errors import InputError
from faceindex.evaluation.lfw import read_pairs
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
        report = evaluate_pairs(similarity, [p.same for p in listed], [embedded.identities[i] for i in a],
                                [embedded.identities[i] for i in b], groups, threshold, len(items),
                                int(np.sum(~f)), info)
    else:
        report = evaluate(embedded.embeddings, embedded.has_face, embedded.identities, groups, threshold,
                          holdout, info)
    html_path, json_path = write_report(report, out_dir)
    return report, html_path, json_path
