"""dlib's shape_predictor (.dat): a cascade of regression-tree forests, read into flat arrays.

Layout (dlib/image_processing/shape_predictor.h): version 1, initial_shape (float
column matrix), forests (per cascade level, a list of trees: splits (idx1, idx2,
thresh) and leaf_values (float column matrices)), anchor_idx (per level, the part
each feature pixel hangs off) and deltas (per level, each feature's offset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceindex.packs.dlib import kernels
from faceindex.packs.dlib.serialization import DlibReader


@dataclass(frozen=True)
class ShapePredictorArrays:
    initial_shape: npt.NDArray[np.float32]  # [2P]
    anchors: npt.NDArray[np.uint32]  # [levels, features]
    deltas: npt.NDArray[np.float32]  # [levels, features, 2]
    split_idx: npt.NDArray[np.uint32]  # [levels, trees, splits, 2]
    split_thresh: npt.NDArray[np.float32]  # [levels, trees, splits]
    leaves: npt.NDArray[np.float32]  # [levels, trees, splits+1, 2P]

    @property
    def num_parts(self) -> int:
        return self.initial_shape.size // 2

    def save(self, path: str) -> None:
        np.savez(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: str) -> ShapePredictorArrays:
        with np.load(path, allow_pickle=False) as z:  # a cache file: never unpickle what is on disk
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


def read_shape_predictor(data: bytes, name: str = "shape_predictor.dat") -> ShapePredictorArrays:
    r = DlibReader(data, name)
    r.version((1,), "shape_predictor")
    initial = r.float_matrix().reshape(-1)
    if initial.size == 0 or initial.size % 2:
        raise r.fail(f"initial shape has {initial.size} values, expected x, y pairs")
    n_levels = r.unsigned()
    if not 0 < n_levels < 1000:
        raise r.fail(f"implausible cascade depth {n_levels}")
    split_idx: list[list[list[tuple[int, int]]]] = []
    split_thresh: list[list[list[float]]] = []
    leaves: list[list[np.ndarray]] = []
    for _ in range(n_levels):
        n_trees = r.unsigned()
        level_idx, level_thr, level_leaves = [], [], []
        for _ in range(n_trees):
            n_splits = r.unsigned()
            if n_splits > 1 << 16:
                raise r.fail(f"implausible tree size {n_splits}")
            idx, thr = [], []
            for _ in range(n_splits):
                idx.append((r.unsigned(), r.unsigned()))
                thr.append(r.real())
            n_leaves = r.unsigned()
            if n_leaves != n_splits + 1:
                raise r.fail(f"a tree with {n_splits} splits has {n_leaves} leaves")
            leaf_list = []
            for _ in range(n_leaves):  # read one by one: the file's sizes are not trusted for an allocation
                values = r.float_matrix().reshape(-1)
                if values.size != initial.size:  # checked per leaf: leaves of differing sizes cannot stack
                    raise r.fail(f"a leaf has {values.size} values; the shape has {initial.size}")
                leaf_list.append(values)
            tree_leaves = np.stack(leaf_list)
            level_idx.append(idx)
            level_thr.append(thr)
            level_leaves.append(tree_leaves)
        split_idx.append(level_idx)
        split_thresh.append(level_thr)
        leaves.append(level_leaves)
    anchors = [[r.unsigned() for _ in range(r.unsigned())] for _ in range(r.unsigned())]
    deltas = [[(r.real(), r.real()) for _ in range(r.unsigned())] for _ in range(r.unsigned())]
    if not r.at_end():
        raise r.fail("unexpected bytes after the shape predictor")
    if len(anchors) != n_levels or len(deltas) != n_levels:
        raise r.fail("anchor and delta lists do not match the cascade depth")
    try:
        arrays = ShapePredictorArrays(
            initial_shape=initial.astype(np.float32),
            anchors=np.array(anchors, dtype=np.uint32),
            deltas=np.array(deltas, dtype=np.float32),
            split_idx=np.array(split_idx, dtype=np.uint32),
            split_thresh=np.array(split_thresh, dtype=np.float32),
            leaves=np.array([np.stack(level) for level in leaves], dtype=np.float32),
        )
    except ValueError as e:  # ragged: trees or feature sets of different sizes per level
        raise r.fail(f"the cascade is not uniform ({e}); faceindex reads uniform cascades only") from e
    if arrays.anchors.ndim != 2 or arrays.deltas.shape != arrays.anchors.shape + (2,) or arrays.split_idx.ndim != 4:
        raise r.fail("the cascade is not uniform (feature or tree counts differ between levels)")
    try:  # the C++ kernel's own checks (indices in range, finite bounded offsets): one definition of "usable"
        kernels.ShapePredictor(arrays.initial_shape, arrays.anchors, arrays.deltas, arrays.split_idx,
                               arrays.split_thresh, arrays.leaves)
    except ValueError as e:
        raise r.fail(f"not a usable shape predictor: {e}") from e
    return arrays
