"""Detections: the faces of one image as arrays, the form every stage between the
detector and the API edge passes on; BatchDetections: the same for many images.

Row i of every array is face i. Indexing with an int gives a `Face` (the API edge);
indexing with a slice, a boolean mask or an index array gives Detections again, so
stages select and reorder faces without building objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import overload
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from faceindex.types import KEYPOINT_NAMES, Face, Float64Array, FloatArray, Pose

IndexArray = npt.NDArray[np.intp]
Selection = slice | Sequence[int] | npt.NDArray[np.integer] | npt.NDArray[np.bool_]

NO_POSE = (np.nan, np.nan, np.nan)


@dataclass(frozen=True, eq=False)
class Detections:
    """Faces found in one image, in the pixel coordinates of that image.

    quality is None until measured (the engine measures it on these arrays unless the
    pack gave it); keypoints and poses likewise (the engine estimates them from the
    landmarks: faceindex.keypoints, faceindex.pose), with NaN rows where they cannot be
    had; embeddings is None until the recognizer has run.
    """

    boxes: Float64Array  # [n, 4] x1, y1, x2, y2
    scores: Float64Array  # [n] detector confidence 0..1
    landmarks: FloatArray  # [n, 5, 2] pixels, the pack's own points; NaN when the detector gives none
    quality: Float64Array | None = None  # [n, 3]: face_size (shorter box side, px), sharpness, brightness 0..1
    poses: Float64Array | None = None  # [n, 3] yaw, pitch, roll in degrees
    embeddings: FloatArray | None = None  # [n, d] unit vectors
    keypoints: FloatArray | None = None  # [n, 5, 2] pixels: Rekognition's five (types.KEYPOINT_NAMES)

    def __post_init__(self) -> None:
        n = len(self.boxes)
        expected = {"boxes": (n, 4), "scores": (n,), "landmarks": (n, 5, 2)}
        if self.quality is not None:
            expected["quality"] = (n, 3)
        if self.poses is not None:
            expected["poses"] = (n, 3)
        if self.keypoints is not None:
            expected["keypoints"] = (n, 5, 2)
        for name, shape in expected.items():
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"Detections.{name} must have shape {shape}, got {np.shape(getattr(self, name))}")
        if self.embeddings is not None and (self.embeddings.ndim != 2 or len(self.embeddings) != n):
            raise ValueError(f"Detections.embeddings must have shape ({n}, d), got {self.embeddings.shape}")

    @classmethod
    def from_arrays(cls, boxes: npt.ArrayLike, scores: npt.ArrayLike, landmarks: npt.ArrayLike,
                    quality: npt.ArrayLike | None = None, poses: npt.ArrayLike | None = None,
                    keypoints: npt.ArrayLike | None = None) -> Detections:
        """Detections from any array-likes, converted to the dtypes above (n may be 0)."""
        return cls(
            boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            scores=np.asarray(scores, dtype=np.float64).reshape(-1),
            landmarks=np.ascontiguousarray(np.asarray(landmarks, dtype=np.float32).reshape(-1, 5, 2)),
            quality=None if quality is None else np.asarray(quality, dtype=np.float64).reshape(-1, 3),
            poses=None if poses is None else np.asarray(poses, dtype=np.float64).reshape(-1, 3),
            keypoints=None if keypoints is None else np.ascontiguousarray(
                np.asarray(keypoints, dtype=np.float32).reshape(-1, 5, 2)),
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls.from_arrays(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))

    @classmethod
    def from_faces(cls, faces: Sequence[Face]) -> Detections:
        """The arrays of Face objects (a caller's own faces coming back in through the API)."""
        for i, face in enumerate(faces):
            if not isinstance(face, Face):
                raise TypeError(f"faces[{i}] is {type(face).__name__}, not a Face")
            if np.shape(face.landmarks) != (5, 2):
                raise ValueError(f"faces[{i}]: landmarks must have shape (5, 2), got {np.shape(face.landmarks)}")
            if len(face.bbox) != 4:
                raise ValueError(f"faces[{i}]: bbox must hold 4 values (x1, y1, x2, y2), got {face.bbox!r}")
        if not faces:
            return cls.empty()
        has_pose = any(f.pose is not None for f in faces)
        has_keypoints = any(f.keypoints for f in faces)
        has_embedding = all(f.embedding is not None for f in faces)
        detections = cls.from_arrays(
            [f.bbox for f in faces], [f.score for f in faces], [np.asarray(f.landmarks).reshape(5, 2) for f in faces],
            quality=[(f.face_size, f.sharpness, f.brightness) for f in faces],
            poses=[tuple(f.pose) if f.pose is not None else NO_POSE for f in faces] if has_pose else None,
            keypoints=[[f.keypoints.get(name, (np.nan, np.nan)) for name in KEYPOINT_NAMES] for f in faces]
            if has_keypoints else None,
        )
        if has_embedding:
            detections = detections.with_embeddings(np.stack([np.asarray(f.embedding, np.float32) for f in faces]))
        return detections

    # -- reading -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.boxes)

    @overload
    def __getitem__(self, key: int) -> Face: ...

    @overload
    def __getitem__(self, key: Selection) -> Detections: ...

    def __getitem__(self, key: int | Selection) -> Face | Detections:
        if isinstance(key, (int, np.integer)):
            return self._face(int(key))
        return self.take(key)

    def __iter__(self) -> Iterator[Face]:
        return (self._face(i) for i in range(len(self)))

    def faces(self) -> list[Face]:
        return list(self)

    def __repr__(self) -> str:
        parts = [f"{len(self)} faces"]
        if self.quality is not None:
            parts.append("quality")
        if self.poses is not None:
            parts.append("poses")
        if self.keypoints is not None:
            parts.append("keypoints")
        if self.embeddings is not None:
            parts.append(f"embeddings {self.embeddings.shape[1]}-d")
        return f"Detections({', '.join(parts)})"

    @property
    def areas(self) -> Float64Array:
        widths = np.maximum(self.boxes[:, 2] - self.boxes[:, 0], 0.0)
        heights = np.maximum(self.boxes[:, 3] - self.boxes[:, 1], 0.0)
        area: Float64Array = widths * heights
        return area

    @property
    def face_sizes(self) -> Float64Array:
        """Shorter side of each box, pixels (measured or not)."""
        sides: Float64Array = np.minimum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])
        return sides

    def _face(self, i: int) -> Face:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"face {i} of {n}")
        x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
        size, sharpness, brightness = (0.0, 0.0, 0.0) if self.quality is None else (float(v) for v in self.quality[i])
        pose = None
        if self.poses is not None and not np.isnan(self.poses[i]).any():
            yaw, pitch, roll = (float(v) for v in self.poses[i])
            pose = Pose(yaw, pitch, roll)
        keypoints = {} if self.keypoints is None else {
            name: (float(x), float(y)) for name, (x, y) in zip(KEYPOINT_NAMES, self.keypoints[i])
            if np.isfinite(x) and np.isfinite(y)}
        return Face(
            bbox=(x1, y1, x2, y2),
            score=float(self.scores[i]),
            landmarks=self.landmarks[i].copy(),
            embedding=None if self.embeddings is None else self.embeddings[i].copy(),
            face_size=size,
            sharpness=sharpness,
            brightness=brightness,
            pose=pose,
            keypoints=keypoints,
        )

    # -- selecting and adding -------------------------------------------------------------

    def take(self, selection: Selection) -> Detections:
        """The faces a slice, boolean mask or index array picks, in that order."""
        pick = selection if isinstance(selection, slice) else np.asarray(selection)
        if isinstance(pick, np.ndarray) and pick.dtype != np.bool_:
            pick = pick.astype(np.intp).reshape(-1)

        def cut(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[pick]

        return Detections(self.boxes[pick], self.scores[pick], self.landmarks[pick], cut(self.quality),
                          cut(self.poses), cut(self.embeddings), cut(self.keypoints))

    def largest_first(self) -> Detections:
        """The one order faceindex gives faces in: largest box first, ties by higher score."""
        return self.take(self.order_largest_first())

    def order_largest_first(self) -> IndexArray:
        order: IndexArray = np.lexsort((-self.scores, -self.areas))
        return order

    def with_quality(self, quality: npt.ArrayLike) -> Detections:
        return dataclasses.replace(self, quality=np.asarray(quality, dtype=np.float64).reshape(len(self), 3))

    def with_embeddings(self, embeddings: npt.ArrayLike) -> Detections:
        return dataclasses.replace(self, embeddings=np.ascontiguousarray(embeddings, dtype=np.float32))

    def with_keypoints(self, keypoints: npt.ArrayLike) -> Detections:
        return dataclasses.replace(self, keypoints=np.ascontiguousarray(
            np.asarray(keypoints, dtype=np.float32).reshape(len(self), 5, 2)))

    def with_poses(self, poses: npt.ArrayLike) -> Detections:
        return dataclasses.replace(self, poses=np.asarray(poses, dtype=np.float64).reshape(len(self), 3))

    def with_scores(self, scores: npt.ArrayLike) -> Detections:
        return dataclasses.replace(self, scores=np.asarray(scores, dtype=np.float64).reshape(len(self)))


def as_detections(faces: Detections | Sequence[Face]) -> Detections:
    """Detections as they are; a caller's sequence of Face objects as Detections."""
    return faces if isinstance(faces, Detections) else Detections.from_faces(list(faces))


@dataclass(frozen=True, eq=False)
class BatchDetections:
    """The faces of many images (frames of a video), as one Detections and where each
    image's rows start: batch[i] is image i's Detections."""

    all: Detections  # every image's faces, image by image
    offsets: npt.NDArray[np.int64]  # [images + 1]: image i holds rows offsets[i]:offsets[i+1]

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> BatchDetections:
        counts = [len(p) for p in parts]
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if not parts or offsets[-1] == 0:
            return cls(Detections.empty(), offsets)

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            if all(a is None for a in arrays):
                return None
            if any(a is None for a in arrays):
                raise ValueError(f"some detections have {name} and some do not")
            return np.concatenate(arrays)

        boxes, scores, landmarks = joined("boxes"), joined("scores"), joined("landmarks")
        assert boxes is not None and scores is not None and landmarks is not None
        return cls(Detections(boxes, scores, landmarks, joined("quality"), joined("poses"), joined("embeddings"),
                              joined("keypoints")), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, image: int) -> Detections:
        if not -len(self) <= image < len(self):
            raise IndexError(f"image {image} of {len(self)}")
        image %= len(self)
        return self.all.take(slice(int(self.offsets[image]), int(self.offsets[image + 1])))

    def __iter__(self) -> Iterator[Detections]:
        return (self[i] for i in range(len(self)))

    @property
    def image_of_rows(self) -> npt.NDArray[np.int64]:
        """For every face of `all`, the image it was found in."""
        rows: npt.NDArray[np.int64] = np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.offsets))
        return rows
