"""dlib's two CNNs read from their .dat files: the mmod face detector and the ResNet recognizer.

dlib serialises a network as nested templates whose wrappers (add_layer, add_tag_layer,
add_skip_layer) write only a version number, so the file alone does not say where the
tags and skips sit: we describe each network's architecture as dlib's own template
aliases do (tools/python/src/cnn_face_detector.cpp, dnn_face_recognition_ex.cpp) and
read the file against that description, checking every layer's type and version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceindex.errors import DlibFormatError
from faceindex.packs.dlib.serialization import DlibReader

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Conv:
    weights: F32  # [out, in, kh, kw]
    bias: F32  # [out]
    stride: tuple[int, int]  # y, x
    padding: tuple[int, int]  # y, x


@dataclass(frozen=True)
class Affine:
    """y = gamma * x + beta per channel (dlib's affine_, or a bn_con folded for inference)."""

    gamma: F32
    beta: F32


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    kind: str  # "max" or "avg"
    size: tuple[int, int]  # (0, 0): the whole input
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AddPrev:
    tag: int


@dataclass(frozen=True)
class FullyConnected:
    weights: F32  # [in, out]
    bias: F32 | None


@dataclass(frozen=True)
class Tag:
    id: int


@dataclass(frozen=True)
class Skip:
    id: int


Layer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected | Tag | Skip


@dataclass(frozen=True)
class DetectorWindow:
    width: int
    height: int


@dataclass(frozen=True)
class MmodOptions:
    windows: tuple[DetectorWindow, ...]
    nms_iou: float
    nms_covered: float


@dataclass
class Network:
    """Layers from the input outwards; `input_means` are the RGB means the input layer subtracts."""

    input_kind: str  # "pyramid" (detector) or "sized" (recognizer)
    input_means: tuple[float, float, float]
    input_size: tuple[int, int] | None  # rows, cols for "sized"
    pyramid_padding: tuple[int, int] | None  # (padding, outer_padding) for "pyramid"
    layers: list[Layer] = field(default_factory=list)
    mmod: MmodOptions | None = None


# ---------------------------------------------------------------------------
# Architectures, outermost first, as dlib's template aliases spell them.
# "con", "affine", "relu", "fc", "max_pool", "avg_pool", "add_prev1", "tag1", "skip1", ...
# ---------------------------------------------------------------------------


def detector_architecture() -> list[str]:
    rcon5 = ["relu", "affine", "con"]
    downsampler = ["relu", "affine", "con"] * 3
    return ["con"] + rcon5 * 3 + downsampler


def _block(sub: list[str]) -> list[str]:
    return ["affine", "con", "relu", "affine", "con"] + sub


def _ares(sub: list[str]) -> list[str]:
    return ["relu", "add_prev1"] + _block(["tag1"] + sub)


def _ares_down(sub: list[str]) -> list[str]:
    return ["relu", "add_prev2", "avg_pool", "skip1", "tag2"] + _block(["tag1"] + sub)


def recognizer_architecture() -> list[str]:
    net = ["max_pool", "relu", "affine", "con"]
    for _ in range(3):  # alevel4: ares<32> x3
        net = _ares(net)
    net = _ares_down(net)  # alevel3: ares_down<64>, ares<64> x3
    for _ in range(3):
        net = _ares(net)
    for _ in range(2):  # alevel2 and alevel1: ares_down then ares x2
        net = _ares_down(net)
        for _ in range(2):
            net = _ares(net)
    net = _ares_down(net)  # alevel0
    return ["fc", "avg_pool"] + net


# ---------------------------------------------------------------------------
# Layer details
# ---------------------------------------------------------------------------


def _skip_multipliers(r: DlibReader, n: int) -> None:
    for _ in range(n):  # learning-rate and weight-decay multipliers: training only
        r.real()


def _read_con(r: DlibReader) -> Conv:
    r.expect_string("con_4", "con_5")
    params = r.tensor().reshape(-1)
    num_filters, nr, nc = r.integer(), r.integer(), r.integer()
    stride = (r.integer(), r.integer())
    padding = (r.integer(), r.integer())
    fshape = r.alias_tensor()
    bshape = r.alias_tensor()
    _skip_multipliers(r, 4)
    if fshape[0] != num_filters or fshape[2:] != (nr, nc) or min(stride) < 1 or min(padding) < 0:
        raise r.fail(f"inconsistent con_ layer: filters {fshape}, {num_filters}x{nr}x{nc}, stride {stride}")
    n_weights = int(np.prod(fshape))
    n_bias = int(np.prod(bshape))
    if params.size != n_weights + n_bias or n_bias != num_filters:
        raise r.fail(f"con_ parameter count {params.size} does not match filters {fshape} and biases {bshape}")
    return Conv(params[:n_weights].reshape(fshape).copy(), params[n_weights:].copy(), stride, padding)


def _read_affine(r: DlibReader) -> Affine:
    kind = r.expect_string("affine_", "bn_con2")
    params = r.tensor().reshape(-1)
    gshape = r.alias_tensor()
    r.alias_tensor()  # beta has gamma's shape
    n = int(np.prod(gshape))
    if params.size != 2 * n:
        raise r.fail(f"{kind} parameter count {params.size} does not match gamma {gshape}")
    gamma, beta = params[:n], params[n:]
    if kind == "affine_":
        r.integer()  # layer mode (conv)
        return Affine(gamma.copy(), beta.copy())
    for _ in range(2):  # batch means / inverse std-devs: training only
        r.tensor()
    mean = r.tensor().reshape(-1)
    var = r.tensor().reshape(-1)
    r.unsigned()  # num_updates
    r.unsigned()  # running_stats_window_size
    _skip_multipliers(r, 4)
    eps = np.float32(r.real())
    if mean.size != n or var.size != n:
        raise r.fail("bn_con running statistics do not match its channel count")
    # The same float32 arithmetic as dlib's affine_(const bn_&) constructor.
    g = (gamma * (np.float32(1.0) / np.sqrt(var + eps))).astype(np.float32)
    b = (beta - g * mean).astype(np.float32)
    return Affine(g, b)


def _read_pool(r: DlibReader, kind: str) -> Pool:
    r.expect_string(f"{kind}_pool_2")
    size = (r.integer(), r.integer())
    stride = (r.integer(), r.integer())
    padding = (r.integer(), r.integer())
    if min(size) < 0 or min(stride) < 1 or min(padding) < 0:
        raise r.fail(f"bad {kind}_pool parameters {size} {stride} {padding}")
    return Pool(kind, size, stride, padding)


def _read_fc(r: DlibReader) -> FullyConnected:
    r.expect_string("fc_2")
    num_outputs, num_inputs = r.unsigned(), r.unsigned()
    params = r.tensor().reshape(-1)
    wshape = r.alias_tensor()
    r.alias_tensor()  # the biases' shape: implied by num_outputs
    bias_mode = r.integer()
    _skip_multipliers(r, 4)
    n_weights = num_inputs * num_outputs
    if wshape[:2] != (num_inputs, num_outputs) or bias_mode not in (0, 1):
        raise r.fail(f"inconsistent fc_ layer {wshape} vs {num_inputs}x{num_outputs}")
    expected = n_weights + (num_outputs if bias_mode == 0 else 0)
    if params.size != expected:
        raise r.fail(f"fc_ parameter count {params.size}, expected {expected}")
    weights = params[:n_weights].reshape(num_inputs, num_outputs).copy()
    bias = params[n_weights:].copy() if bias_mode == 0 else None
    return FullyConnected(weights, bias)


def _read_details(r: DlibReader, name: str) -> Layer:
    if name == "con":
        return _read_con(r)
    if name == "affine":
        return _read_affine(r)
    if name == "relu":
        r.expect_string("relu_")
        return Relu()
    if name in ("max_pool", "avg_pool"):
        return _read_pool(r, name.split("_")[0])
    if name.startswith("add_prev"):
        r.expect_string("add_prev_")
        return AddPrev(int(name[len("add_prev") :]))
    if name == "fc":
        return _read_fc(r)
    raise AssertionError(name)


def _skip_layer_state(r: DlibReader, version: int, over_input: bool) -> None:
    """The training state add_layer writes after its details (bools, cached tensors)."""
    for _ in range(3):
        r.boolean()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    if over_input:
        r.tensor()  # grad_final
        if version >= 3:
            r.unsigned()  # sample_expansion_factor
    elif version >= 2:
        r.tensor()  # params_grad


def _read_input(r: DlibReader, net: Network) -> None:
    kind = r.expect_string("input_rgb_image_pyramid", "input_rgb_image_pyramid2", "input_rgb_image_sized")
    means = (r.real(), r.real(), r.real())
    net.input_means = means
    if kind == "input_rgb_image_sized":
        net.input_kind = "sized"
        net.input_size = (r.unsigned(), r.unsigned())
    else:
        net.input_kind = "pyramid"
        # Files without explicit padding use dlib's defaults (input.h).
        net.pyramid_padding = (r.unsigned(), r.unsigned()) if kind.endswith("2") else (10, 11)


def _read_body(r: DlibReader, architecture: list[str], net: Network) -> None:
    layer_names = [n for n in architecture if not n.startswith(("tag", "skip"))]
    if not layer_names:
        raise AssertionError("an architecture needs layers")
    versions: list[int] = []
    innermost = len(architecture) - 1 - [n.startswith(("tag", "skip")) for n in architecture][::-1].index(False)
    for i, name in enumerate(architecture):
        if name.startswith(("tag", "skip")):
            r.version((1,), f"add_{name[:-1].rstrip('0123456789')}_layer")
        elif i == innermost:
            versions.append(r.version((2, 3), "add_layer (over the input)"))
        else:
            versions.append(r.version((1, 2), "add_layer"))
    if innermost != len(architecture) - 1:
        raise AssertionError("a tag or skip directly over the input is not supported")
    _read_input(r, net)
    # Details come back innermost first; tags and skips sit between them.
    layers: list[Layer] = []
    version_iter = iter(reversed(versions))
    for name in reversed(architecture):
        if name.startswith("tag"):
            layers.append(Tag(int(name[3:])))
            continue
        if name.startswith("skip"):
            layers.append(Skip(int(name[4:])))
            continue
        version = next(version_iter)
        layers.append(_read_details(r, name))
        _skip_layer_state(r, version, over_input=not layers[:-1])
    net.layers = layers


def _read_mmod_options(r: DlibReader) -> MmodOptions:
    version = r.version((1, 2, 3, 4), "mmod_options")
    windows: list[DetectorWindow] = []
    if version == 1:
        windows.append(DetectorWindow(r.unsigned(), r.unsigned()))
    else:
        for _ in range(r.unsigned()):
            wv = r.version((1, 2), "detector_window_details")
            w, h = r.unsigned(), r.unsigned()
            if wv == 2:
                r.string()  # label
            windows.append(DetectorWindow(w, h))
    for _ in range(3):  # loss per false alarm / missed target, truth match IoU: training only
        r.real()
    nms_iou, nms_covered = r.real(), r.real()
    for _ in range(2):  # overlaps_ignore
        r.real()
    if version >= 3:
        r.unsigned()  # assume_image_pyramid
    if version >= 4:
        r.boolean()  # bounding box regression
        r.real()  # its lambda
    if not windows or any(w.width < 1 or w.height < 1 for w in windows):
        raise r.fail("mmod_options has no usable detector window")
    if not (0 <= nms_iou <= 1 and 0 <= nms_covered <= 1):
        raise r.fail(f"bad non-max suppression thresholds {nms_iou}, {nms_covered}")
    return MmodOptions(tuple(windows), nms_iou, nms_covered)


def _new_network() -> Network:
    return Network(input_kind="", input_means=(0.0, 0.0, 0.0), input_size=None, pyramid_padding=None)


def read_detector(data: bytes, name: str = "mmod_human_face_detector.dat") -> Network:
    """The mmod CNN face detector: loss_mmod over 7 convolutions on an image pyramid."""
    r = DlibReader(data, name)
    r.version((1,), "add_loss_layer")
    r.expect_string("loss_mmod_")
    net = _new_network()
    net.mmod = _read_mmod_options(r)
    _read_body(r, detector_architecture(), net)
    if net.input_kind != "pyramid":
        raise r.fail("the detector's input layer is not an image pyramid")
    _check_end(r)
    return net


def read_recognizer(data: bytes, name: str = "dlib_face_recognition_resnet_model_v1.dat") -> Network:
    """The ResNet-29 face recognizer: loss_metric over fc_no_bias<128> on 150x150 chips."""
    r = DlibReader(data, name)
    r.version((1,), "add_loss_layer")
    r.expect_string("loss_metric_", "loss_metric_2")
    for _ in range(2):  # margin, distance threshold: training only
        r.real()
    net = _new_network()
    _read_body(r, recognizer_architecture(), net)
    if net.input_kind != "sized":
        raise r.fail("the recognizer's input layer is not input_rgb_image_sized")
    _check_end(r)
    return net


def _check_end(r: DlibReader) -> None:
    if not r.at_end():
        raise r.fail("unexpected bytes after the network")


__all__ = ["DlibFormatError", "Network", "read_detector", "read_recognizer"]
