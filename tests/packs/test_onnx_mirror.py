"""ONNX packs' mirror option: each embedding from the chip and its mirror image in one run of the
recognizer; off by default (on LFW it lowered MobileFaceNet's FNMR at FMR 1e-4 from 9.9% to 8.9%,
not clearly at 1e-3: docs/default-pack.md), and its own pack version when on."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import faceindex
from faceindex.packs.onnx import OnnxPack, UnverifiedModelWarning, kernels

DataFile = Callable[[str], Path]
DETECTOR = "models/scrfd/det_500m.onnx"
RECOGNIZER = "models/mobilefacenet/mobilefacenet.onnx"


def pack(data_file: DataFile, **options: object) -> OnnxPack:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        return OnnxPack.from_files(data_file(DETECTOR), data_file(RECOGNIZER), backend="onnxruntime",
                                   **options)  # type: ignore[arg-type]


def test_mirror_is_off_by_default_and_names_itself(data_file: DataFile) -> None:
    plain, mirrored = pack(data_file), pack(data_file, mirror=True)
    assert not plain.recognizer.mirror and "mirror" not in plain.info.recognizer
    assert mirrored.info.version == plain.info.version + "+mirror" and "mirror image" in mirrored.info.recognizer
    assert faceindex.thresholds.table_for(plain.info) is not None  # the shipped table is the plain pack's
    with pytest.raises(ValueError, match="mirror must be True or False"):
        pack(data_file, mirror="yes")


def test_mirror_embeds_both_chips_in_one_run(data_file: DataFile) -> None:
    mirrored = pack(data_file, mirror=True)
    t1 = faceindex.load_image(data_file("images/insightface/t1.jpg"))
    faces = mirrored.detect(t1)
    rec = mirrored.recognizer
    p = rec.pixels
    chips = kernels.align_tensor(t1, np.ascontiguousarray(faces.landmarks), rec.template, rec.signature.input_size,
                                 p.bgr, p.mean, p.std)
    both = np.ascontiguousarray(np.concatenate([chips, chips[..., ::-1]]))
    raw = rec.session.run({rec.signature.input_name: both})[0].reshape(len(both), -1)
    expected = raw[: len(faces)] + raw[len(faces):]
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    calls: list[int] = []
    session = rec.session

    class Counting:
        def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            calls.append(len(next(iter(feeds.values()))))
            return session.run(feeds)

    rec.session = Counting()  # type: ignore[assignment]
    try:
        got = mirrored.embed(t1, faces)
    finally:
        rec.session = session
    assert rec.signature.batch is None and calls == [2 * len(faces)]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_pack_folder_may_ask_for_mirror(data_file: DataFile, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "scrfd_mbf"
    folder.mkdir(parents=True)
    shutil.copyfile(data_file(DETECTOR), folder / "det.onnx")
    shutil.copyfile(data_file(RECOGNIZER), folder / "rec.onnx")
    (folder / "pack.json").write_text(json.dumps({"detector": "det.onnx", "recognizer": "rec.onnx",
                                                  "version": "7", "mirror": True}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        folder_pack = OnnxPack.from_folder("scrfd_mbf", models_dir=tmp_path / "models", backend="onnxruntime")
    assert folder_pack.recognizer.mirror and folder_pack.info.version == "7+mirror"
    (folder / "pack.json").write_text(json.dumps({"detector": "det.onnx", "recognizer": "rec.onnx", "mirror": 1}))
    with pytest.raises(faceindex.ModelFileError, match="mirror must be true or false"):
        OnnxPack.from_folder("scrfd_mbf", models_dir=tmp_path / "models", backend="onnxruntime")
