"""The C++ shape predictor refuses models that would make it compute out-of-range coordinates
(non-finite or huge offsets), and predicts finite points for any box on a usable model."""

from __future__ import annotations

import numpy as np
import pytest

from faceindex.packs.dlib import kernels

LEVELS, TREES, SPLITS, PARTS, FEATURES = 2, 2, 3, 5, 4


def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    angles = np.linspace(0, 2 * np.pi, PARTS, endpoint=False)
    return {
        "initial_shape": np.stack([0.5 + 0.25 * np.cos(angles), 0.5 + 0.25 * np.sin(angles)], 1).reshape(-1)
        .astype(np.float32),
        "anchors": rng.integers(0, PARTS, (LEVELS, FEATURES)).astype(np.uint32),
        "deltas": rng.uniform(-0.1, 0.1, (LEVELS, FEATURES, 2)).astype(np.float32),
        "split_idx": rng.integers(0, FEATURES, (LEVELS, TREES, SPLITS, 2)).astype(np.uint32),
        "split_thresh": rng.uniform(-20, 20, (LEVELS, TREES, SPLITS)).astype(np.float32),
        "leaves": rng.uniform(-0.01, 0.01, (LEVELS, TREES, SPLITS + 1, 2 * PARTS)).astype(np.float32),
    }


IMAGE = np.random.default_rng(4).integers(0, 256, (40, 50, 3), dtype=np.uint8)


def test_a_usable_model_predicts_finite_points_for_any_box() -> None:
    predictor = kernels.ShapePredictor(**arrays())
    boxes = np.array([[5, 5, 30, 30], [-10**6, -10**6, 10**6, 10**6], [49, 39, 49, 39]], dtype=np.int64)
    points = predictor.predict(IMAGE, boxes)
    assert points.shape == (3, PARTS, 2) and np.all(np.isfinite(points))


@pytest.mark.parametrize(("name", "value", "said"), [
    ("deltas", np.nan, "deltas must be finite"), ("deltas", 1e30, "deltas must be finite"),
    ("leaves", np.inf, "leaf values"), ("leaves", -1e9, "leaf values"),
    ("split_thresh", np.nan, "split thresholds"), ("initial_shape", 1e6, "initial shape values"),
])
def test_offsets_that_would_overflow_coordinates_are_refused(name: str, value: float, said: str) -> None:
    bad = arrays()
    bad[name].reshape(-1)[1] = value
    with pytest.raises(ValueError, match=said):
        kernels.ShapePredictor(**bad)
