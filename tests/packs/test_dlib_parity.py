"""The dlib pack against dlib itself (dlib-bin) on real photos: the same faces, the same
landmarks, the same embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest

from faceindex.images import load_image

dlib = pytest.importorskip("dlib", reason="dlib-bin (the test extra) is the reference")

from dlib_peer import DlibPeer, PeerFace  # noqa: E402

IMAGES = [
    "images/insightface/t1.jpg",  # 6 faces
    "images/face_recognition/obama-1080p.jpg",  # a large face: chips cut from pyramid levels
    "images/face_recognition/obama-240p.jpg",  # a small image
    "images/face_recognition/two_people.jpg",
    "images/dlib/faces/2008_007676.jpg",
    "images/dlib/faces/2009_004587.jpg",
    "images/deepface/img10.jpg",
    "images/dlib/faces/dogs.jpg",  # dogs, no people
]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def peer_box(f: PeerFace) -> tuple[float, float, float, float]:
    left, top, right, bottom = f.box
    return (left, top, right + 1, bottom + 1)  # dlib's inclusive rectangle as pixel edges


@pytest.fixture(scope="module")
def runs(data_file: Callable[[str], Path], dlib_pack: Any) -> list[tuple[str, Any, list[PeerFace]]]:
    peer = DlibPeer()
    out = []
    for name in IMAGES:
        rgb = load_image(data_file(name))
        ours = dlib_pack.detect(rgb)
        if len(ours):
            ours = ours.with_embeddings(dlib_pack.embed(rgb, ours))
        out.append((name, ours, peer.analyze(rgb)))
    return out


def matched(runs: list[tuple[str, Any, list[PeerFace]]]) -> list[tuple[str, Any, PeerFace]]:
    pairs = []
    for name, ours, theirs in runs:
        assert len(ours) == len(theirs), f"{name}: we found {len(ours)} faces, dlib {len(theirs)}"
        for f in theirs:
            best = max(ours, key=lambda o: iou(o.bbox, peer_box(f)))
            pairs.append((name, best, f))
    return pairs


def test_the_same_faces_are_found(runs: list[tuple[str, Any, list[PeerFace]]], dlib_pack: Any) -> None:
    pairs = matched(runs)
    assert len(pairs) >= 12, "the parity images should hold a dozen faces or more"
    assert len({id(o) for _, o, _ in pairs}) == len(pairs), "two dlib faces matched one of ours"
    for name, ours, theirs in pairs:
        assert iou(ours.bbox, peer_box(theirs)) >= 0.95, f"{name}: {ours.bbox} vs {theirs.box}"
        # Our score is dlib's mapped through the measured confidence curve (faceindex.packs.confidence).
        assert ours.score == pytest.approx(float(dlib_pack.confidence(np.array([theirs.score]))[0]), abs=1e-3)


def test_landmarks_within_one_pixel(runs: list[tuple[str, Any, list[PeerFace]]]) -> None:
    for name, ours, theirs in matched(runs):
        assert np.abs(ours.landmarks - theirs.landmarks).max() <= 1.0, name


def test_embeddings_match(runs: list[tuple[str, Any, list[PeerFace]]]) -> None:
    cos = []
    for name, ours, theirs in matched(runs):
        d = theirs.descriptor / np.linalg.norm(theirs.descriptor)
        cos.append(float(ours.embedding @ d))
        assert cos[-1] >= 0.999, f"{name}: cosine {cos[-1]}"
    assert float(np.median(cos)) >= 0.9999


def test_chips_match_dlibs_get_face_chip(data_file: Callable[[str], Path], dlib_pack: Any) -> None:
    peer = DlibPeer()
    for name in ("images/face_recognition/obama-1080p.jpg", "images/insightface/t1.jpg"):
        rgb = load_image(data_file(name))
        faces = dlib_pack.detect(rgb)
        chips = dlib_pack.face_chips(rgb, faces)
        for face, chip in zip(faces, chips):
            box = (int(face.bbox[0]), int(face.bbox[1]), int(face.bbox[2]) - 1, int(face.bbox[3]) - 1)
            ref = dlib.get_face_chip(rgb, peer.shape(rgb, box), 150, 0.25)
            diff = np.abs(ref.astype(np.int16) - chip.astype(np.int16))
            assert diff.max() <= 1 and (diff > 0).mean() < 0.001, name


@pytest.mark.parametrize("upsample", [1])
def test_upsampling_finds_dlibs_small_faces(data_file: Callable[[str], Path], dlib_cache: Path, upsample: int) -> None:
    from faceindex.packs.dlib import DlibPack

    rgb = load_image(data_file("images/insightface/t1.jpg"))
    small = np.ascontiguousarray(rgb[::3, ::3])  # faces of about 40 pixels: half the detector window
    theirs = DlibPeer().detect(small, upsample)
    ours = DlibPack(upsample=upsample, cache_dir=dlib_cache, detector="mmod", mirror=False).detect(small)
    assert len(theirs) == 6 and len(ours) == len(theirs)
    for f in theirs:
        assert max(iou(o.bbox, peer_box(f)) for o in ours) >= 0.95
