"""`faceindex eval`'s two pipelines side by side (issue 29): cosine and AS-norm scores of the same
pairs, cross-validated over identity-disjoint groups, and what the report says when the photos are
too few for cohorts of other people."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceindex.evaluation.cross_validation import CrossValidation, cross_validated_pairs
from faceindex.evaluation.normalised_scores import GroupCohorts, all_pair_blocks, identity_groups
from faceindex.evaluation.report import CV_TARGETS, evaluate, evaluate_pairs
from faceindex.evaluation.report_html import to_json

DIM = 64


def labelled(n_people: int, photos: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """People of different distinctiveness (some resemble many others): unit vectors and names."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(DIM)
    people = rng.standard_normal((n_people, DIM)) * rng.uniform(0.4, 1.6, (n_people, 1)) + common
    who = np.repeat(np.arange(n_people), photos)
    v = people[who] + rng.standard_normal((len(who), DIM)) * 0.5
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), [f"p{i:04d}" for i in who]


def test_eval_reports_both_pipelines_cross_validated() -> None:
    emb, names = labelled(1000, 3, seed=1)
    report = evaluate(emb, np.ones(len(names), dtype=bool), names)
    pipes = report.pipelines
    assert pipes is not None and pipes.as_norm is not None and "cohort of 1,000 faces" in pipes.normalisation
    assert set(pipes.cross_validated) == {"cosine", "as-norm"}
    for name, points in pipes.cross_validated.items():
        assert [p.target for p in points] == sorted(CV_TARGETS, reverse=True)
        resolved = [p for p in points if p.resolved]
        assert resolved, name
        for p in resolved:  # every genuine pair is inside one group: all of them are counted
            assert p.fnmr is not None and p.fnmr.trials == report.verification.genuine_pairs
            assert p.fmr is not None and p.fmr.value <= 10 * p.target + 3 / p.fmr.trials
            assert len(p.thresholds) == len(set(identity_groups(names).tolist()))
    assert pipes.as_norm.score == "AS-norm score" and pipes.as_norm.impostor_pairs == report.verification.impostor_pairs
    json.dumps(to_json(report))


def test_cross_validation_matches_scoring_each_fold_by_hand() -> None:
    emb, names = labelled(700, 3, seed=2)
    groups = identity_groups(names)
    cohorts = GroupCohorts(emb, np.ones(len(names), dtype=bool), groups)
    cv = CrossValidation(np.array(names), groups, (1e-2, 1e-3))
    pairs_z, pairs_same, pairs_group = [], [], []
    for rows, _, z in all_pair_blocks(emb, np.ones(len(names), dtype=bool), cohorts):
        assert z is not None
        cv.add(rows, z)
        i, j = np.nonzero(~np.isnan(z))
        same = np.array(names)[rows[i]] == np.array(names)[j]
        inside = groups[rows[i]] == groups[j]
        pairs_z.append(z[i, j][inside])
        pairs_same.append(same[inside])
        pairs_group.append(groups[j][inside])
    point = cv.points()[0]
    # By hand: group g's threshold from the impostors with neither photo in g.
    z_all = np.concatenate(pairs_z)
    assert point.resolved and point.fnmr is not None
    assert point.fnmr.trials == int(np.concatenate(pairs_same).sum())
    # The pairs-file variant on the same in-group pairs agrees on what it can see.
    listed = cross_validated_pairs(z_all, np.concatenate(pairs_same), np.concatenate(pairs_group), (1e-2,))
    assert listed[0].fnmr is not None and listed[0].fnmr.trials == point.fnmr.trials


def test_too_few_photos_for_cohorts_is_said_not_guessed() -> None:
    emb, names = labelled(100, 3, seed=3)
    report = evaluate(emb, np.ones(len(names), dtype=bool), names)
    assert report.pipelines is not None and report.pipelines.as_norm is None
    assert report.pipelines.normalisation.startswith("not measured: too few faces")
    assert set(report.pipelines.cross_validated) == {"cosine"}


def test_a_pairs_file_is_cross_validated_over_its_folds(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 600
    same = rng.random(n) < 0.5
    folds = np.repeat(np.arange(6), n // 6)
    cosine = np.where(same, rng.normal(0.8, 0.1, n), rng.normal(0.2, 0.1, n))
    z = np.where(same, rng.normal(5, 1, n), rng.normal(-1, 1, n))
    report = evaluate_pairs(cosine, same, ["a"] * n, ["b"] * n, normalised=z, folds=folds, normalisation="test")
    pipes = report.pipelines
    assert pipes is not None and set(pipes.cross_validated) == {"cosine", "as-norm"}
    assert all(not p.resolved for p in pipes.cross_validated["cosine"])  # 300 impostors resolve 1e-2 at best
