"""dlib's serialisation format: our reader on the real model files and on broken ones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceindex.packs.dlib import model_files
from faceindex.packs.dlib.networks import AddPrev, Affine, Conv, Relu, Skip, Tag, read_detector, read_recognizer
from faceindex.packs.dlib.serialization import DlibFormatError, DlibReader
from faceindex.packs.dlib.shape_predictor import read_shape_predictor


@pytest.fixture(scope="module")
def files() -> model_files.DlibModelFiles:
    return model_files.locate()


def test_integers_are_a_size_byte_then_little_endian_bytes() -> None:
    r = DlibReader(bytes([0x00, 0x01, 0x05, 0x81, 0x05, 0x02, 0x34, 0x12, 0x82, 0x00, 0x01]))
    assert [r.integer(), r.integer(), r.integer(), r.integer(), r.integer()] == [0, 5, -5, 0x1234, -256]
    assert r.at_end()


def test_floats_are_mantissa_and_exponent() -> None:
    # 3 * 2**-1, -1 * 2**2, and the +inf marker
    r = DlibReader(bytes([0x01, 0x03, 0x81, 0x01, 0x81, 0x01, 0x01, 0x02, 0x00, 0x02, 0x00, 0x7D]))
    assert r.real() == 1.5
    assert r.real() == -4.0
    assert r.real() == math.inf


def test_truncated_and_malformed_bytes_raise_format_errors() -> None:
    with pytest.raises(DlibFormatError, match="truncated"):
        DlibReader(bytes([0x02, 0x01])).integer()
    with pytest.raises(DlibFormatError, match="bad integer header"):
        DlibReader(bytes([0x3F])).integer()
    with pytest.raises(DlibFormatError, match="expected one of"):
        DlibReader(bytes([0x01, 0x03]) + b"abc").expect_string("relu_")


def test_a_float_beyond_double_range_is_a_format_error() -> None:
    # Found by tests/fuzz/fuzz_dlib.py: mantissa 2**63 with exponent 32000-odd overflowed math.ldexp.
    mantissa = bytes([0x08]) + b"\xff" * 8
    with pytest.raises(DlibFormatError, match="out of range"):
        DlibReader(mantissa + bytes([0x02, 0xF0, 0x7C])).real()  # exponent 31984


def test_an_empty_matrix_with_a_huge_side_is_a_format_error() -> None:
    # Found by tests/fuzz/fuzz_dlib.py: 2**63-ish rows x 0 columns passed the element bound; numpy refused the shape.
    huge, zero = bytes([0x88]) + b"\xff" * 7 + b"\x7f", bytes([0x00])
    with pytest.raises(DlibFormatError, match="implausible matrix shape"):
        DlibReader(huge + zero).float_matrix()
    with pytest.raises(DlibFormatError, match="implausible tensor shape"):
        DlibReader(bytes([0x01, 0x02]) + zero + bytes([0x08]) + huge[1:] + zero + zero).tensor()


def test_detector_file_reads_as_dlibs_mmod_network(files: model_files.DlibModelFiles) -> None:
    net = read_detector(files.detector.read())
    convs = [l for l in net.layers if isinstance(l, Conv)]
    assert [c.weights.shape[0] for c in convs] == [16, 32, 32, 45, 45, 45, 1]
    assert [c.stride for c in convs] == [(2, 2)] * 3 + [(1, 1)] * 4
    assert sum(isinstance(l, Affine) for l in net.layers) == 6  # bn_con folded for inference
    assert net.mmod is not None and [(w.width, w.height) for w in net.mmod.windows] == [(80, 80)]
    assert net.input_means == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert net.pyramid_padding == (10, 11)


def test_recognizer_file_reads_as_resnet29(files: model_files.DlibModelFiles) -> None:
    net = read_recognizer(files.recognizer.read())
    kinds = [type(l) for l in net.layers]
    assert kinds.count(Conv) == 29 and kinds.count(Affine) == 29 and kinds.count(Relu) == 29
    assert kinds.count(AddPrev) == 14 and kinds.count(Skip) == 4 and kinds.count(Tag) == 18
    assert net.input_size == (150, 150)


def test_shape_predictor_file_reads_as_a_uniform_cascade(files: model_files.DlibModelFiles) -> None:
    sp = read_shape_predictor(files.shape_predictor.read())
    assert sp.num_parts == 5
    assert sp.anchors.shape == (15, 800) and sp.leaves.shape == (15, 500, 16, 10)
    assert sp.anchors.max() < 5 and sp.split_idx.max() < 800


@pytest.mark.parametrize("cut", [1, 100, 5000, -10])
def test_truncated_model_files_raise(files: model_files.DlibModelFiles, cut: int) -> None:
    data = files.detector.read()
    with pytest.raises(DlibFormatError):
        read_detector(data[:cut])


def test_wrong_file_for_the_network_raises(files: model_files.DlibModelFiles) -> None:
    with pytest.raises(DlibFormatError, match="loss_metric"):
        read_recognizer(files.detector.read())
    with pytest.raises(DlibFormatError):
        read_detector(files.shape_predictor.read())


def test_trailing_bytes_are_refused(files: model_files.DlibModelFiles) -> None:
    with pytest.raises(DlibFormatError, match="unexpected bytes"):
        read_detector(files.detector.read() + b"\x00")


def test_corrupted_bytes_never_crash(files: model_files.DlibModelFiles) -> None:
    """Bytes flipped in the headers, where the structure is: each file is refused with a DlibFormatError
    naming the file and the byte where reading stopped, or (a flip that leaves the structure valid, in a
    weight) read as the same network, layer for layer."""
    data = bytearray(files.detector.read())
    original = read_detector(bytes(data))
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(40):
        broken = bytearray(data)
        for i in rng.integers(0, 400, size=3):
            broken[int(i)] ^= 0xFF
        try:
            network = read_detector(bytes(broken))
        except DlibFormatError as e:
            refused += 1
            assert str(e).startswith("mmod_human_face_detector.dat: ") and f"of {len(data)})" in str(e), str(e)
            continue
        assert [type(layer) for layer in network.layers] == [type(layer) for layer in original.layers]
        assert network.input_kind == original.input_kind == "pyramid"
    assert refused >= 20, refused  # the headers' flips are caught, not read as some other network


def test_model_files_are_checked_by_sha256(tmp_path, files: model_files.DlibModelFiles) -> None:  # type: ignore[no-untyped-def]
    for f in (files.detector, files.shape_predictor, files.recognizer):
        (tmp_path / f.path.name).write_bytes(f.read())
    data = bytearray(files.detector.read())
    data[-1] ^= 0x01
    (tmp_path / model_files.DETECTOR).write_bytes(bytes(data))
    with pytest.raises(model_files.ModelFileError, match="sha256"):
        model_files.locate(tmp_path)
    (tmp_path / model_files.DETECTOR).write_bytes(files.detector.read())
    (tmp_path / model_files.RECOGNIZER).unlink()
    with pytest.raises(model_files.ModelFileError, match="not found"):
        model_files.locate(tmp_path)
