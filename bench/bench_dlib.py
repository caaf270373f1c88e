"""dlib pack speed against dlib itself on the same photo (insightface t1.jpg: 1280x886, 6 faces).

Peers: the dlib-bin wheel in this process, and (optional) dlib built from source with
OpenBLAS by `make bench-peers`, timed in its own virtualenv by bench/peers/dlib_timing.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np
import pytest
from conftest import Ratio, bench_size

from faceindex.images import load_image

dlib = pytest.importorskip("dlib", reason="dlib-bin is the peer")

from dlib_peer import shared_data_file, DlibPeer  # noqa: E402

PHOTO = "images/insightface/t1.jpg"
REPO = Path(__file__).resolve().parent.parent
SOURCE_PEER_PYTHON = REPO / ".peers" / "dlib-src" / "bin" / "python"

# dlib-bin runs the photo in ~9 s: its rounds are few.
PEER_ROUNDS = bench_size("FACEINDEX_BENCH_DLIB_PEER_ROUNDS", full=2, quick=1)

RATIOS = [
    Ratio("end to end (detect+embed): dlib-bin / faceindex", "dlib_bin_end_to_end", "faceindex_end_to_end", ">= 4"),
    Ratio("embed per face: dlib-bin / faceindex", "dlib_bin_embed_face", "faceindex_embed_face", ""),
]


@pytest.fixture(scope="module")
def photo(data_file: Callable[[str], Path]) -> np.ndarray:
    return load_image(data_file(PHOTO))


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from faceindex.packs.dlib import DlibPack

    return DlibPack(backend="onnxruntime")


@pytest.fixture(scope="module")
def peer() -> DlibPeer:
    return DlibPeer()


def test_faceindex_end_to_end(benchmark: Any, pack: Any, photo: np.ndarray) -> None:
    benchmark.extra_info["key"] = "faceindex_end_to_end"
    faces = benchmark.pedantic(lambda: pack.embed(photo, pack.detect(photo)), rounds=5, warmup_rounds=1)
    assert faces.shape == (6, 128)


def test_dlib_bin_end_to_end(benchmark: Any, peer: DlibPeer, photo: np.ndarray) -> None:
    benchmark.extra_info["key"] = "dlib_bin_end_to_end"
    faces = benchmark.pedantic(lambda: peer.analyze(photo), rounds=PEER_ROUNDS, warmup_rounds=0)
    assert len(faces) == 6


def test_faceindex_embed_face(benchmark: Any, pack: Any, photo: np.ndarray) -> None:
    faces = pack.detect(photo)[:1]
    benchmark.extra_info["key"] = "faceindex_embed_face"
    benchmark.pedantic(lambda: pack.embed(photo, faces), rounds=20, warmup_rounds=2)


def test_dlib_bin_embed_face(benchmark: Any, peer: DlibPeer, photo: np.ndarray) -> None:
    face = peer.detect(photo)[0]
    shape = peer.shape(photo, face.box)
    benchmark.extra_info["key"] = "dlib_bin_embed_face"
    benchmark.pedantic(lambda: peer.recognizer.compute_face_descriptor(photo, shape), rounds=10, warmup_rounds=1)


def test_source_built_dlib(record: Callable[..., None], pack: Any, photo: np.ndarray, data_file: Callable[[str], Path]) -> None:
    """The optional peer: its own process times itself; we time ourselves the same way here."""
    if not SOURCE_PEER_PYTHON.exists():
        pytest.skip("source-built dlib not present: run `make bench-peers` first")
    out = subprocess.run(
        [str(SOURCE_PEER_PYTHON), str(REPO / "bench" / "peers" / "dlib_timing.py"), str(data_file(PHOTO))],
        check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())},
    )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    import time

    times = []
    for _ in range(5):
        t = time.perf_counter()
        pack.embed(photo, pack.detect(photo))
        times.append(time.perf_counter() - t)
    ours = float(np.median(times))
    record(
        "source_built_dlib",
        dlib_version=theirs["version"],
        dlib_end_to_end_s=theirs["end_to_end_s"],
        dlib_embed_face_s=theirs["embed_face_s"],
        faceindex_end_to_end_s=ours,
        ratio_end_to_end=theirs["end_to_end_s"] / ours,
        target=">= 1.5",
    )


@pytest.fixture(scope="module")
def data_file() -> Callable[[str], Path]:
    return shared_data_file
