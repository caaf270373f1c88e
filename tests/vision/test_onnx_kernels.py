"""The ONNX packs' C++ kernels against plain numpy references, and their boundary checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceindex.packs.onnx import kernels
from faceindex.packs.onnx.arcface import ARCFACE_TEMPLATE_112

RNG = np.random.default_rng(7)


def image(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


# --- references -------------------------------------------------------------


def bilinear_reference(img: np.ndarray, sx: float, sy: float, clamp: bool) -> np.ndarray:
    """Bilinear sample with pixel centres at integers; edge clamped, or zero outside."""
    h, w = img.shape[:2]
    if clamp:
        sx, sy = min(max(sx, 0.0), w - 1.0), min(max(sy, 0.0), h - 1.0)
    x0, y0 = int(np.floor(sx)), int(np.floor(sy))
    fx, fy = sx - x0, sy - y0
    out = np.zeros(3)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            x, y = x0 + dx, y0 + dy
            if clamp:
                x, y = min(x, w - 1), min(y, h - 1)
            if 0 <= x < w and 0 <= y < h:
                out += wy * wx * img[y, x].astype(np.float64)
    return out


def letterbox_reference(img, canvas, bgr, mean, std):  # type: ignore[no-untyped-def]
    h, w = img.shape[:2]
    cw, ch = canvas
    scale = min(cw / w, ch / h)
    rw, rh = min(cw, int(np.floor(w * scale + 1e-3))), min(ch, int(np.floor(h * scale + 1e-3)))
    out = np.empty((3, ch, cw))
    order = [2, 1, 0] if bgr else [0, 1, 2]
    for y in range(ch):
        for x in range(cw):
            if x < rw and y < rh:
                px = bilinear_reference(img, (x + 0.5) / scale - 0.5, (y + 0.5) / scale - 0.5, clamp=True)
            else:
                px = np.zeros(3)
            out[:, y, x] = (px[order] - np.array(mean)) / np.array(std)
    return out[None], scale, (rw, rh)


def umeyama_reference(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama (1991): the least-squares similarity, SVD form with the reflection fix."""
    n = len(src)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / n
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    c = np.trace(np.diag(sig) @ e) / (s**2).sum(1).mean()
    t = md - c * r @ ms
    return np.hstack([c * r, t[:, None]])


def nms_reference(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept: list[int] = []
    for i in order:
        ok = True
        for k in kept:
            iw = min(boxes[i, 2], boxes[k, 2]) - max(boxes[i, 0], boxes[k, 0])
            ih = min(boxes[i, 3], boxes[k, 3]) - max(boxes[i, 1], boxes[k, 1])
            if iw > 0 and ih > 0:
                inter = iw * ih
                area = lambda b: max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])  # noqa: E731
                if inter / (area(boxes[i]) + area(boxes[k]) - inter) > iou_threshold:
                    ok = False
                    break
        if ok:
            kept.append(i)
    return kept


# --- letterbox --------------------------------------------------------------


@pytest.mark.parametrize("shape,canvas", [((37, 53), (64, 64)), ((20, 9), (32, 64)), ((90, 70), (32, 32))])
@pytest.mark.parametrize("bgr", [False, True])
def test_letterbox_matches_reference(shape: tuple[int, int], canvas: tuple[int, int], bgr: bool) -> None:
    img = image(*shape)
    mean, std = (127.5, 100.0, 3.0), (128.0, 64.0, 1.0)
    got, scale, content = kernels.letterbox(img, canvas, bgr, mean, std)
    want, want_scale, want_content = letterbox_reference(img, canvas, bgr, mean, std)
    assert got.shape == (1, 3, canvas[1], canvas[0]) and got.dtype == np.float32
    assert scale == pytest.approx(want_scale) and content == want_content
    np.testing.assert_allclose(got, want, atol=2e-3)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), cw=st.integers(1, 96), ch=st.integers(1, 96))
def test_letterbox_fits_any_image_in_any_canvas(h: int, w: int, cw: int, ch: int) -> None:
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    tensor, scale, (rw, rh) = kernels.letterbox(img, (cw, ch), False, (0.0,) * 3, (1.0,) * 3)
    assert 1 <= rw <= cw and 1 <= rh <= ch
    assert rw == cw or rh == ch or min(rw, rh) == 1  # one side fills the canvas
    assert np.all(tensor[0, :, :rh, :rw] == 255.0)  # content, and only content, is image
    assert np.all(tensor[0, :, rh:, :] == 0.0) and np.all(tensor[0, :, :, rw:] == 0.0)
    assert scale == pytest.approx(min(cw / w, ch / h))


# --- NMS ---------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 40), st.floats(0.0, 1.0), st.integers(0, 2**31 - 1))
def test_nms_matches_greedy_reference(n: int, iou_threshold: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2))
    wh = rng.uniform(1, 40, size=(n, 2))
    boxes = np.hstack([xy, xy + wh]).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / max(n, 1)  # distinct scores: one right answer
    assert list(kernels.nms(boxes, scores, iou_threshold)) == nms_reference(boxes, scores, iou_threshold)


# --- similarity transform and warp -------------------------------------------


def test_similarity_matches_umeyama_on_noisy_landmarks() -> None:
    for _ in range(20):
        src = (ARCFACE_TEMPLATE_112 * RNG.uniform(0.5, 4) + RNG.uniform(-50, 300, 2)).astype(np.float32)
        angle = RNG.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        src = (src @ rot.T + RNG.normal(0, 2, src.shape)).astype(np.float32)
        got = kernels.similarity_transform(src, ARCFACE_TEMPLATE_112)
        want = umeyama_reference(src.astype(np.float64), ARCFACE_TEMPLATE_112.astype(np.float64))
        np.testing.assert_allclose(got, want, atol=1e-6 * np.abs(want).max())


def test_similarity_recovers_an_exact_transform() -> None:
    scale, angle, shift = 2.5, 0.3, np.array([40.0, -7.0])
    m = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE_112
    dst = (src.astype(np.float64) @ m.T + shift).astype(np.float32)
    np.testing.assert_allclose(kernels.similarity_transform(src, dst), np.hstack([m, shift[:, None]]), atol=1e-4)


def test_alignment_matches_reference_warp() -> None:
    img = image(60, 80)
    landmarks = (ARCFACE_TEMPLATE_112 * 0.4 + np.array([15.0, 5.0])).astype(np.float32)
    landmarks[1] += 1.5  # a slight tilt
    size = 24
    template = (ARCFACE_TEMPLATE_112 * (size / 112)).astype(np.float32)
    m = kernels.similarity_transform(landmarks, template)
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    want = np.zeros((size, size, 3))
    for y in range(size):
        for x in range(size):
            sx, sy, _ = inv @ [x, y, 1]
            want[y, x] = bilinear_reference(img, sx, sy, clamp=False)
    chips = kernels.align_chips(img, landmarks[None], template, size)
    assert chips.shape == (1, size, size, 3) and chips.dtype == np.uint8
    assert np.abs(chips[0].astype(float) - want).max() <= 1.0
    tensor = kernels.align_tensor(img, landmarks[None], template, size, True, (127.5,) * 3, (127.5,) * 3)
    np.testing.assert_allclose(tensor[0], ((want[:, :, ::-1] - 127.5) / 127.5).transpose(2, 0, 1), atol=1e-4)


def test_alignment_outside_the_image_reads_black() -> None:
    img = np.full((10, 10, 3), 200, dtype=np.uint8)
    far = (ARCFACE_TEMPLATE_112 + 5000).astype(np.float32)
    chips = kernels.align_chips(img, far[None], ARCFACE_TEMPLATE_112, 112)
    assert chips.max() == 0


def test_alignment_of_no_faces_is_empty() -> None:
    out = kernels.align_tensor(image(8, 8), np.zeros((0, 5, 2), np.float32), ARCFACE_TEMPLATE_112, 112, False,
                               (0.0,) * 3, (1.0,) * 3)
    assert out.shape == (0, 3, 112, 112)


# --- decoders ----------------------------------------------------------------


def scrfd_reference(scores, boxes, kps, strides, anchors, canvas, scale, threshold):  # type: ignore[no-untyped-def]
    rows = []
    for s, sc, bx, kp in zip(strides, scores, boxes, kps):
        h, w = canvas[1] // s, canvas[0] // s
        centres = np.stack(np.mgrid[:h, :w][::-1], axis=-1).reshape(-1, 2) * s
        centres = np.repeat(centres, anchors, axis=0).astype(np.float64)
        d = bx.reshape(-1, 4) * s
        box = np.hstack([centres - d[:, :2], centres + d[:, 2:]])
        lm = (np.tile(centres, 5) + kp.reshape(-1, 10) * s)
        keep = sc.ravel() >= threshold
        rows.append(np.hstack([box, sc.reshape(-1, 1), lm])[keep])
    out = np.vstack(rows)
    out[:, [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]] /= scale
    return out[np.argsort(-out[:, 4], kind="stable")]


def test_scrfd_decoding_matches_reference() -> None:
    canvas, strides, anchors = (64, 96), (8, 16, 32), 2
    sizes = [(canvas[0] // s) * (canvas[1] // s) * anchors for s in strides]
    scores = [RNG.uniform(0, 1, (n, 1)).astype(np.float32) for n in sizes]
    boxes = [RNG.uniform(0, 3, (n, 4)).astype(np.float32) for n in sizes]
    kps = [RNG.normal(0, 1, (n, 10)).astype(np.float32) for n in sizes]
    got = kernels.decode_scrfd(scores, boxes, kps, strides, anchors, canvas, 0.5, 0.9, 1.0)
    want = scrfd_reference(scores, boxes, kps, strides, anchors, canvas, 0.5, 0.9)
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    without = kernels.decode_scrfd(scores, boxes, None, strides, anchors, canvas, 0.5, 0.9, 1.0)
    np.testing.assert_allclose(without[:, :5], want[:, :5], rtol=1e-5, atol=1e-3)
    assert np.isnan(without[:, 5:]).all()


def test_yunet_decoding_matches_opencv_formula() -> None:
    canvas, strides = (64, 32), (8, 16, 32)
    cls, obj, boxes, kps = [], [], [], []
    for s in strides:
        n = (canvas[0] // s) * (canvas[1] // s)
        cls.append(RNG.uniform(-0.1, 1.1, (1, n, 1)).astype(np.float32))
        obj.append(RNG.uniform(0.5, 1.0, (1, n, 1)).astype(np.float32))
        boxes.append(RNG.normal(0, 0.5, (1, n, 4)).astype(np.float32))
        kps.append(RNG.normal(0, 0.5, (1, n, 10)).astype(np.float32))
    got = kernels.decode_yunet(cls, obj, boxes, kps, strides, canvas, 2.0, 0.6, 1.0)
    want = []
    for s, c, o, b, k in zip(strides, cls, obj, boxes, kps):
        cols = canvas[0] // s
        for i in range(c.size):
            score = np.sqrt(np.clip(c.ravel()[i], 0, 1) * np.clip(o.ravel()[i], 0, 1))
            if score < 0.6:
                continue
            r, col = divmod(i, cols)
            bb = b.reshape(-1, 4)[i]
            cx, cy, w, h = (col + bb[0]) * s, (r + bb[1]) * s, np.exp(bb[2]) * s, np.exp(bb[3]) * s
            lm = [(col + v) * s if j % 2 == 0 else (r + v) * s for j, v in enumerate(k.reshape(-1, 10)[i])]
            want.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, *lm])
    want_a = np.array(want)
    want_a[:, [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]] /= 2.0
    want_a = want_a[np.argsort(-want_a[:, 4], kind="stable")]
    np.testing.assert_allclose(got, want_a, rtol=1e-5, atol=1e-3)


def test_retinaface_decoding_matches_prior_box_formula() -> None:
    canvas = (64, 32)
    priors = []
    for step, sizes in ((8, (16, 32)), (16, (64, 128)), (32, (256, 512))):
        for r in range(-(-canvas[1] // step)):
            for c in range(-(-canvas[0] // step)):
                for size in sizes:
                    priors.append(((c + 0.5) * step, (r + 0.5) * step, size))
    p = np.array(priors, dtype=np.float64)
    n = len(p)
    loc = RNG.normal(0, 1, (1, n, 4)).astype(np.float32)
    logits = RNG.normal(0, 2, (n, 2))
    conf = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)[None]
    lm = RNG.normal(0, 1, (1, n, 10)).astype(np.float32)
    got = kernels.decode_retinaface(loc, conf, lm, canvas, 1.0, 0.7, 1.0)
    l = loc[0].astype(np.float64)
    cx, cy = p[:, 0] + l[:, 0] * 0.1 * p[:, 2], p[:, 1] + l[:, 1] * 0.1 * p[:, 2]
    w, h = p[:, 2] * np.exp(l[:, 2] * 0.2), p[:, 2] * np.exp(l[:, 3] * 0.2)
    marks = np.tile(p[:, :2], 5) + lm[0] * 0.1 * p[:, 2:3]
    want = np.hstack([np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, conf[0, :, 1]], 1), marks])
    want = want[conf[0, :, 1] >= 0.7]
    want = want[np.argsort(-want[:, 4], kind="stable")]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_decoders_drop_non_finite_candidates() -> None:
    canvas, strides = (32, 32), (8, 16, 32)
    sizes = [(32 // s) ** 2 * 2 for s in strides]
    scores = [np.ones((n, 1), np.float32) for n in sizes]
    boxes = [np.full((n, 4), np.nan, np.float32) for n in sizes]
    kps = [np.zeros((n, 10), np.float32) for n in sizes]
    assert kernels.decode_scrfd(scores, boxes, kps, strides, 2, canvas, 1.0, 0.5, 0.4).shape == (0, 15)


# --- the boundary: bad input raises, never crashes ---------------------------

GOOD_NORM = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    "bad,error",
    [
        (np.zeros((4, 4, 3), np.float32), TypeError),
        (np.zeros((4, 4), np.uint8), ValueError),
        (np.zeros((4, 4, 4), np.uint8), ValueError),
        (np.zeros((0, 4, 3), np.uint8), ValueError),
        (np.zeros((4, 0, 3), np.uint8), ValueError),
        (np.zeros((8, 8, 3), np.uint8)[::2], ValueError),
    ],
)
def test_letterbox_refuses_bad_images(bad: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        kernels.letterbox(bad, (32, 32), False, *GOOD_NORM)


@pytest.mark.parametrize(
    "canvas,mean,std",
    [((0, 32), (0.0,) * 3, (1.0,) * 3), ((32, 10**6), (0.0,) * 3, (1.0,) * 3),
     ((32, 32), (np.nan, 0.0, 0.0), (1.0,) * 3), ((32, 32), (0.0,) * 3, (1.0, 0.0, 1.0))],
)
def test_letterbox_refuses_bad_options(canvas, mean, std) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        kernels.letterbox(image(8, 8), canvas, False, mean, std)


def test_decoders_refuse_outputs_of_the_wrong_size() -> None:
    canvas, strides = (32, 32), (8, 16, 32)
    sizes = [(32 // s) ** 2 * 2 for s in strides]
    scores = [np.ones((n, 1), np.float32) for n in sizes]
    boxes = [np.ones((n, 4), np.float32) for n in sizes]
    with pytest.raises(ValueError, match="expected"):
        kernels.decode_scrfd(scores, boxes[:2] + [np.ones((3, 4), np.float32)], None, strides, 2, canvas, 1, .5, .4)
    with pytest.raises(ValueError, match="multiple of stride"):
        kernels.decode_scrfd(scores, boxes, None, strides, 2, (36, 32), 1.0, 0.5, 0.4)
    with pytest.raises(ValueError, match="strides"):
        kernels.decode_scrfd(scores, boxes, None, (8, 16), 2, canvas, 1.0, 0.5, 0.4)
    with pytest.raises(TypeError):
        kernels.decode_scrfd([s.astype(np.float64) for s in scores], boxes, None, strides, 2, canvas, 1, .5, .4)
    with pytest.raises(ValueError, match="nms"):
        kernels.decode_scrfd(scores, boxes, None, strides, 2, canvas, 1.0, 0.5, 1.5)
    with pytest.raises(ValueError, match="scale"):
        kernels.decode_scrfd(scores, boxes, None, strides, 2, canvas, 0.0, 0.5, 0.4)
    with pytest.raises(ValueError, match="loc"):
        z = np.zeros((1, 10, 4), np.float32)
        kernels.decode_retinaface(z, z, z, canvas, 1.0, 0.5, 0.4)


def test_alignment_refuses_bad_landmarks() -> None:
    img = image(50, 50)
    t = ARCFACE_TEMPLATE_112
    with pytest.raises(ValueError, match="NaN"):
        kernels.align_chips(img, np.full((1, 5, 2), np.nan, np.float32), t, 112)
    with pytest.raises(ValueError, match="coincide"):
        kernels.align_chips(img, np.ones((2, 5, 2), np.float32), t, 112)
    with pytest.raises(ValueError, match="shape"):
        kernels.align_chips(img, np.ones((1, 4, 2), np.float32), t, 112)
    with pytest.raises(TypeError):
        kernels.align_chips(img, np.ones((1, 5, 2), np.float64), t, 112)
    with pytest.raises(ValueError, match="size"):
        kernels.align_chips(img, t[None].copy(), t, 0)
    with pytest.raises(ValueError, match="size"):
        kernels.align_tensor(img, t[None].copy(), t, 10**6, False, *GOOD_NORM)
    with pytest.raises(ValueError, match="coincide"):
        kernels.similarity_transform(np.zeros((5, 2), np.float32), t)


ARRAYS = st.builds(
    lambda shape, dtype, seed: np.random.default_rng(seed).normal(0, 100, size=shape).astype(dtype),
    st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple),
    st.sampled_from([np.float32, np.float64, np.uint8, np.int32]),
    st.integers(0, 1000),
)


@settings(max_examples=150, deadline=None)
@given(image=ARRAYS, landmarks=ARRAYS, template=ARRAYS, size=st.integers(-2, 40))
def test_alignment_never_crashes_on_arbitrary_arrays(image, landmarks, template, size) -> None:  # type: ignore[no-untyped-def]
    """Whatever it is given, alignment either refuses it with a ValueError or TypeError that says what
    is wrong, or returns what it promises: one size x size RGB chip per face."""
    try:
        chips = kernels.align_chips(image, landmarks, template, size)
    except (ValueError, TypeError) as e:
        assert str(e) and "object at 0x" not in str(e)
        return
    assert chips.dtype == np.uint8 and chips.shape == (len(landmarks), size, size, 3)


@settings(max_examples=150, deadline=None)
@given(a=ARRAYS, b=ARRAYS, c=ARRAYS, w=st.integers(-8, 64), h=st.integers(-8, 64), scale=st.floats(allow_nan=True))
def test_decoders_never_crash_on_arbitrary_arrays(a, b, c, w, h, scale) -> None:  # type: ignore[no-untyped-def]
    for call in (
        lambda: kernels.decode_scrfd([a] * 3, [b] * 3, [c] * 3, (8, 16, 32), 2, (w, h), scale, 0.5, 0.4),
        lambda: kernels.decode_yunet([a] * 3, [a] * 3, [b] * 3, [c] * 3, (8, 16, 32), (w, h), scale, 0.5, 0.3),
        lambda: kernels.decode_retinaface(a, b, c, (w, h), scale, 0.5, 0.4),
        lambda: kernels.letterbox(a, (w, h), False, (0.0,) * 3, (1.0,) * 3),
    ):
        try:
            call()
        except (ValueError, TypeError):
            pass
