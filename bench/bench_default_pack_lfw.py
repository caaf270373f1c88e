"""The default pack before and after (dlib 1.1 -> 2.0) on LFW, and what each change contributes.

Every photo of LFW View 2 folds 0-6 (../shared/data/lfw: 5,082 grayscale 350x350 crops of
2,813 people) through four pipelines, from one detection per detector: dlib's CNN alone
(faceindex 0.1) or YuNet proposing and dlib's CNN confirming (2.0), each with one chip per face
or the chip and its mirror image averaged (2.0). Per pipeline:

- pairs_dev.txt (3,916 pairs in 7 identity-disjoint folds): the LFW protocol's cross-validated
  accuracy (threshold chosen on the other six folds), with the folds' spread and a 95% interval
  (mean +- t(6) x sd / sqrt 7); a pair with a photo where no face was found counts as rejected.
- every pair of those photos (~12.9 million impostor, ~5,400 genuine pairs; photos without a
  face left out, as `make calibrate` does): FNMR at FMR 1e-3, 1e-4 and 1e-5, (a) with the
  threshold of each fold chosen on the impostor pairs of the other six folds and the misses of
  all folds pooled (cross-validated: the rate users get on people the threshold never saw), and
  (b) with one threshold on all pairs (issue 29's "oracle" table). 95% Wilson intervals on the
  genuine pairs (pairs share photos and people, so the true uncertainty is somewhat larger).

FACEINDEX_LFW_EMBEDDINGS=path.npz keeps the embeddings (about 40 minutes on 2 busy cores) and
reuses them when the file exists, after embedding a seeded sample of CHECKED_PHOTOS photos again
with today's code: reused embeddings that differ from what the pipelines give now fail the run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from onnx_bench_data import shared_data

from faceindex.evaluation import cross_validated_accuracy, error_rates
from faceindex.evaluation.lfw import read_pairs
from faceindex.evaluation.report import threshold_at
from faceindex.images import load_image
from faceindex.thresholds.intervals import rate

T6_975 = 2.446911848791681  # Student's t, 6 degrees of freedom, 97.5%
FMRS = (1e-3, 1e-4, 1e-5)
CHECKED_PHOTOS = 60  # photos embedded again to check reused embeddings against today's code
PIPELINES = {"dlib_1.1": ("mmod", False), "mmod+mirror": ("mmod", True), "cascade, no mirror": ("cascade", False),
             "dlib_2.0": ("cascade", True)}


@pytest.fixture(scope="module")
def data() -> Path:
    return shared_data("lfw/pairs_dev.txt")


def embed_all(paths: list[Path]) -> dict[str, np.ndarray]:
    """For both detectors, the largest face's descriptor of its chip and of its mirror image."""
    from faceindex.packs.dlib import DlibPack
    from faceindex.packs.dlib import kernels

    packs = {kind: DlibPack(backend="onnxruntime", detector=kind, mirror=False) for kind in ("mmod", "cascade")}
    out = {f"{kind}_{side}": np.full((len(paths), 128), np.nan, np.float32)
           for kind in packs for side in ("plain", "flip")}
    for i, path in enumerate(paths):
        rgb = load_image(path)
        for kind, pack in packs.items():
            found = pack.detect(rgb)
            if len(found) == 0:
                continue
            chips = pack.face_chips(rgb, found.largest_first().take(slice(0, 1)))
            both = np.ascontiguousarray(np.concatenate([chips, chips[:, :, ::-1]]))
            d = pack._recognizer.run({"chips": kernels.chips_to_tensor(both, pack._rec_means)})[0]
            out[f"{kind}_plain"][i], out[f"{kind}_flip"][i] = d[0], d[1]
    return out


@pytest.fixture(scope="module")
def embeddings(data: Path) -> tuple[list[Path], dict[str, np.ndarray]]:
    paths = sorted((data / "lfw/images").glob("*/*.jpg"))
    cache = os.environ.get("FACEINDEX_LFW_EMBEDDINGS")
    if cache and Path(cache).is_file():
        stored = np.load(cache, allow_pickle=False)
        assert [str(p) for p in paths] == list(stored["paths"]), "the cached embeddings are of other photos"
        reused = {k: stored[k] for k in stored.files if k.endswith(("_plain", "_flip"))}
        sample = np.sort(np.random.default_rng(28).choice(len(paths), CHECKED_PHOTOS, replace=False))
        again = embed_all([paths[i] for i in sample])
        for key, now in again.items():
            then = reused[key][sample]
            assert np.array_equal(np.isnan(now), np.isnan(then)), f"{key}: faces found differ from the cache"
            assert np.allclose(now, then, atol=1e-4, equal_nan=True), f"{key}: the cache is not today's pipeline"
        return paths, reused
    found = embed_all(paths)
    if cache:
        np.savez(cache, paths=np.array([str(p) for p in paths]), **found)
    return paths, found


def unit(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def pipeline_vectors(found: dict[str, np.ndarray], detector: str, mirror: bool) -> np.ndarray:
    plain = found[f"{detector}_plain"].astype(np.float64)
    return unit(plain + found[f"{detector}_flip"] if mirror else plain)


def all_pairs(vectors: np.ndarray, identities: np.ndarray, folds: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Impostor scores with each pair's two folds, genuine scores with their fold."""
    imp, imp_a, imp_b, gen, gen_fold = [], [], [], [], []
    sims = (vectors @ vectors.T).astype(np.float32)
    for i in range(len(vectors) - 1):
        s = sims[i, i + 1:]
        same = identities[i + 1:] == identities[i]
        imp.append(s[~same])
        imp_a.append(np.full(int((~same).sum()), folds[i], np.int8))
        imp_b.append(folds[i + 1:][~same].astype(np.int8))
        gen.append(s[same])
        gen_fold.append(np.full(int(same.sum()), folds[i], np.int8))
    return (np.concatenate(imp), np.concatenate(imp_a) * 8 + np.concatenate(imp_b), np.concatenate(gen),
            np.concatenate(gen_fold))


def threshold_for(scores: np.ndarray, fmr: float) -> float:
    keep = int(math.floor(fmr * len(scores))) + 1
    top = np.sort(np.partition(scores, len(scores) - keep)[len(scores) - keep:])[::-1]
    return threshold_at(top.astype(np.float64), len(scores), fmr)


def test_lfw_before_and_after(data: Path, embeddings: tuple[list[Path], dict[str, np.ndarray]],
                              record: Callable[..., None]) -> None:
    paths, found = embeddings
    pairs = read_pairs(data / "lfw/pairs_dev.txt")
    fold_of = {p: pair.fold for pair in pairs for p in (pair.image_a, pair.image_b)}
    index = {p: i for i, p in enumerate(paths)}
    results: dict[str, Any] = {}
    for name, (detector, mirror) in PIPELINES.items():
        vectors = pipeline_vectors(found, detector, mirror)
        has_face = np.isfinite(vectors).all(axis=1)
        sim = np.array([float(vectors[index[p.image_a]] @ vectors[index[p.image_b]])
                        if has_face[index[p.image_a]] and has_face[index[p.image_b]] else -1.0 for p in pairs])
        same = np.array([p.same for p in pairs])
        cv = cross_validated_accuracy(sim, same, np.array([p.fold for p in pairs]))
        half = T6_975 * float(np.std(cv.fold_accuracies, ddof=1)) / math.sqrt(len(cv.fold_accuracies))
        kept = np.flatnonzero(has_face)
        identities = np.array([paths[i].parent.name for i in kept])
        folds = np.array([fold_of[paths[i]] for i in kept])
        imp, imp_folds, gen, gen_folds = all_pairs(vectors[kept], identities, folds)
        rates: dict[str, Any] = {}
        for fmr in FMRS:
            oracle = threshold_for(imp, fmr)
            misses = 0
            for fold in range(7):
                other = (imp_folds // 8 != fold) & (imp_folds % 8 != fold)
                t = threshold_for(imp[other], fmr)
                misses += int((gen[gen_folds == fold] < t).sum())
            cross = rate(misses, len(gen))
            fixed = rate(int((gen < oracle).sum()), len(gen))
            rates[f"{fmr:g}"] = {"fnmr_cross_validated": cross.value, "interval": [cross.low, cross.high],
                                 "fnmr_oracle": fixed.value, "oracle_interval": [fixed.low, fixed.high],
                                 "oracle_threshold": oracle, "genuine_pairs": len(gen)}
        results[name] = {
            "photos_without_face": int((~has_face).sum()), "impostor_pairs": int(len(imp)),
            "genuine_pairs": int(len(gen)),
            "accuracy": cv.accuracy, "accuracy_interval": [cv.accuracy - half, cv.accuracy + half],
            "fold_accuracies": list(cv.fold_accuracies), "threshold_mean": cv.threshold,
            "fnmr_at_fmr": rates,
        }
        record(f"lfw_{name}", detector=detector, mirror=mirror, **results[name])
        if name == "dlib_2.0":  # the pack's default_threshold (packs/dlib/pack.py: THRESHOLD_SOURCE)
            default = round(cv.threshold, 4)
            at = error_rates(sim, same, default)
            record("dlib_2.0_default_threshold", threshold=default, pairs=len(pairs),
                   false_matches=round(at.false_match_rate * at.impostor_pairs),
                   different_pairs=at.impostor_pairs, false_match_rate=at.false_match_rate,
                   false_non_matches=round(at.false_non_match_rate * at.genuine_pairs),
                   same_pairs=at.genuine_pairs, false_non_match_rate=at.false_non_match_rate,
                   accuracy=at.accuracy, cross_validated_accuracy=cv.accuracy,
                   photos_without_face=int((~has_face).sum()))
    before, after = results["dlib_1.1"], results["dlib_2.0"]
    # Issue 28: within the old version's 95% interval (or better).
    assert after["accuracy"] >= before["accuracy_interval"][0]
    for fmr in ("0.001", "0.0001"):
        assert after["fnmr_at_fmr"][fmr]["fnmr_cross_validated"] <= before["fnmr_at_fmr"][fmr]["interval"][1]
