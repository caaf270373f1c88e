"""Full LFW evaluation of faceindex's conversion of dlib's models against dlib-bin: pairs_dev
folds 0-6 (3,916 pairs), cross-validated accuracy (threshold chosen on the other folds) for both
pipelines, and the error rates of the pack's default threshold. faceindex's side is dlib 1.1's
pipeline (DlibPack(detector="mmod", mirror=False): dlib's CNN alone, one chip per face), the one
dlib-bin runs; the default pack 2.0 is measured by bench_default_pack_lfw.py. dlib-bin needs most of an hour of one core here
(it runs one process per core).
Set FACEINDEX_LFW_LIMIT=N to evaluate about N pairs only, the first of each fold (a quick check)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

from faceindex.evaluation import cross_validated_accuracy, error_rates
from faceindex.evaluation.lfw import read_pairs

dlib = pytest.importorskip("dlib", reason="dlib-bin is the peer")

from conftest import bench_size  # noqa: E402
from dlib_peer import shared_data_file, lfw_images, our_lfw_embedding, pair_similarities, peer_lfw_embeddings  # noqa: E402


def test_lfw_dev_ours_vs_dlib(record: Callable[..., None], data_file: Callable[[str], Path]) -> None:
    from faceindex.packs.dlib import DlibPack

    pairs = read_pairs(data_file("lfw/pairs_dev.txt"))
    limit = bench_size("FACEINDEX_LFW_LIMIT", full=0, quick=14)  # pairs; 0: all
    if limit:
        fold_ids = sorted({p.fold for p in pairs})
        per_fold = max(2, limit // len(fold_ids))
        pairs = [p for f in fold_ids for p in [q for q in pairs if q.fold == f][:per_fold]]
    images = lfw_images(pairs)
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    pack = DlibPack(detector="mmod", mirror=False)  # dlib 1.1: what dlib-bin computes
    results: dict[str, Any] = {}
    # Both sides use every core: faceindex through its thread pools, dlib-bin (whose CNN
    # detector runs on one core) through one process per core.
    processes = os.cpu_count() or 1
    embedders: dict[str, Callable[[], dict[Path, Any]]] = {
        "faceindex": lambda: {p: our_lfw_embedding(pack, p) for p in images},
        "dlib_bin": lambda: peer_lfw_embeddings(images, processes),
    }
    for name, embed_all in embedders.items():
        t = time.perf_counter()
        emb = embed_all()
        seconds = time.perf_counter() - t
        sims = pair_similarities(pairs, emb)
        cv = cross_validated_accuracy(sims, same, folds)
        results[name] = (sims, cv)
        record(
            f"lfw_{name}",
            pairs=len(pairs),
            images=len(images),
            no_face=sum(v is None for v in emb.values()),
            accuracy=cv.accuracy,
            accuracy_std=cv.accuracy_std,
            fold_accuracies=list(cv.fold_accuracies),
            threshold_mean=cv.threshold,
            seconds_per_image=seconds / len(images),
            processes=processes if name == "dlib_bin" else 1,
        )
    ours, theirs = results["faceindex"][1].accuracy, results["dlib_bin"][1].accuracy
    rates = error_rates(results["faceindex"][0], same, pack.info.default_threshold)
    record(
        "lfw_comparison",
        accuracy_difference_points=100 * (ours - theirs),
        max_similarity_difference=float(np.abs(results["faceindex"][0] - results["dlib_bin"][0]).max()),
        default_threshold=pack.info.default_threshold,
        false_match_rate=rates.false_match_rate,
        false_non_match_rate=rates.false_non_match_rate,
    )
    assert abs(ours - theirs) <= 0.002, f"LFW accuracy {ours:.4f} vs dlib {theirs:.4f}"


@pytest.fixture(scope="module")
def data_file() -> Callable[[str], Path]:
    return shared_data_file
