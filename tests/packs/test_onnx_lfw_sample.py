"""A sample of the LFW evaluation that `make bench` runs in full (bench/bench_onnx_lfw.py):
SCRFD-500m + MobileFaceNet, judged at the pack's default threshold."""

from __future__ import annotations

import warnings
from pathlib import Path
from collections.abc import Callable

from faceindex.evaluation import error_rates
from faceindex.evaluation.lfw import read_pairs
from faceindex.packs.onnx import OnnxPack, UnverifiedModelWarning
from lfw_verification import pair_similarities

EVERY = 10  # every 10th pair of the 3,916: 392 pairs, both kinds, all seven folds

# The full run measures 98.27% (cross-validated) on all pairs; a 392-pair sample
# has a standard error of about 0.65%, so 97% is two of them below.
MIN_SAMPLE_ACCURACY = 0.97


def test_lfw_sample_accuracy_at_the_default_threshold(data_file: Callable[[str], Path]) -> None:
    pairs = read_pairs(data_file("lfw/pairs_dev.txt"))[::EVERY]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        pack = OnnxPack.from_files(data_file("models/scrfd/det_500m.onnx"),
                                   data_file("models/mobilefacenet/mobilefacenet.onnx"))  # the defaults
    similarity, same, _, missed = pair_similarities(pack, pairs)
    rates = error_rates(similarity, same, pack.info.default_threshold)
    assert 150 < rates.genuine_pairs and 150 < rates.impostor_pairs
    assert len(missed) <= 2, missed
    assert rates.accuracy >= MIN_SAMPLE_ACCURACY, rates
