"""ONNX packs on the real models in the shared data: every detector family, alignment,
embeddings, pack folders, and clear errors for bad files and bad input."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import faceindex
from faceindex.backends import open_session
from faceindex.packs.onnx import kernels
from dlib_boxes import matched, read_imglab
from faceindex.packs.onnx import (
    ModelFileError,
    ModelHashError,
    OnnxPack,
    PackNotFoundError,
    UnknownModelError,
    UnverifiedModelWarning,
    models_dir,
)
from synthetic_onnx import constant_scrfd, pooled_recognizer, two_input_model

DataFile = Callable[[str], Path]

DETECTORS = {
    "scrfd_500m": "models/scrfd/det_500m.onnx",
    "scrfd_2.5g": "models/scrfd/det_2.5g.onnx",
    "scrfd_500m_bnkps": "models/scrfd/scrfd_500m_bnkps.onnx",
    "scrfd_2.5g_bnkps": "models/scrfd/scrfd_2.5g_bnkps.onnx",
    "yunet": "models/yunet/face_detection_yunet_2026may.onnx",
    "retinaface": "models/retinaface/retinaface_mobilenet0.25.onnx",
}
RECOGNIZER = "models/mobilefacenet/mobilefacenet.onnx"
T1 = "images/insightface/t1.jpg"


def quiet_pack(detector: Path, recognizer: Path, **options: object) -> OnnxPack:
    """A pack whose files may be unverified (the shared MobileFaceNet, YuNet, ... are)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        return OnnxPack.from_files(detector, recognizer, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def packs(data_file: DataFile) -> dict[str, OnnxPack]:
    return {name: quiet_pack(data_file(path), data_file(RECOGNIZER)) for name, path in DETECTORS.items()}


@pytest.fixture(scope="module")
def t1(data_file: DataFile) -> np.ndarray:
    return faceindex.load_image(data_file(T1))


# --- detection on real photos ------------------------------------------------


@pytest.mark.parametrize("name", DETECTORS)
def test_t1_gives_six_faces_with_landmarks_in_order(name: str, packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    faces = packs[name].detect(t1)
    assert len(faces) == 6, [f.score for f in faces]
    for face in faces:
        lm = face.landmarks
        assert lm.shape == (5, 2) and lm.dtype == np.float32
        x1, y1, x2, y2 = face.bbox
        margin = 0.15 * face.width
        assert np.all((lm[:, 0] > x1 - margin) & (lm[:, 0] < x2 + margin) & (lm[:, 1] > y1 - margin))
        # Image-left eye and mouth corner first, eyes above the nose above the mouth.
        assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]
        assert max(lm[0, 1], lm[1, 1]) < lm[2, 1] < min(lm[3, 1], lm[4, 1])


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih)


def test_families_agree_on_where_t1_faces_are(packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    """Three independent decoders must put the same faces in the same places. The models'
    landmark precision differs (YuNet's on t1 is up to 0.41 eye gaps from SCRFD-2.5g's, and
    its decoding matches OpenCV's FaceDetectorYN exactly: bench_onnx.py checks that); a
    decoding error (swapped eyes, wrong stride or axis) is off by an eye gap or more."""
    reference = packs["scrfd_2.5g"].detect(t1)
    for name in ("yunet", "retinaface", "scrfd_500m"):
        for face in packs[name].detect(t1):
            best = max(reference, key=lambda r: box_iou(r.bbox, face.bbox))
            assert box_iou(best.bbox, face.bbox) > 0.5, name
            eye_gap = best.landmarks[1, 0] - best.landmarks[0, 0]
            assert np.abs(best.landmarks - face.landmarks).max() < 0.5 * eye_gap, name


@pytest.mark.parametrize("name", DETECTORS)
def test_dlib_labelled_faces_are_found(name: str, packs: dict[str, OnnxPack], data_file: DataFile) -> None:
    images = read_imglab(data_file("images/dlib/faces/testing.xml"))
    labelled = sum(len(im.boxes) for im in images)
    found = sum(matched(im.boxes, [f.bbox for f in packs[name].detect(faceindex.load_image(im.path))], 0.3)
                for im in images)
    assert found / labelled >= 0.9, f"{found}/{labelled}"


def test_photo_without_faces_gives_none(packs: dict[str, OnnxPack], data_file: DataFile) -> None:
    image = faceindex.load_image(data_file("images/insightface/no_face.png"))
    for name in ("scrfd_500m", "yunet", "retinaface"):
        assert len(packs[name].detect(image)) == 0, name


def test_threads_may_share_a_pack(packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pack = packs["scrfd_500m"]
    small = np.ascontiguousarray(t1[::2, ::2])
    serial = [pack.detect(image) for image in (t1, small)]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(pack.detect, [t1, small] * 4))
    for i, faces in enumerate(parallel):
        assert [f.bbox for f in faces] == [f.bbox for f in serial[i % 2]]


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (1, 999), (999, 1), (31, 17)])
def test_tiny_and_thin_images_detect_without_crashing(shape: tuple[int, int], packs: dict[str, OnnxPack]) -> None:
    image = np.zeros((*shape, 3), dtype=np.uint8)
    for pack in packs.values():
        assert len(pack.detect(image)) == 0


# --- alignment and embedding -------------------------------------------------


def test_embeddings_are_unit_and_recognise_faces_across_scales(packs: dict[str, OnnxPack], t1: np.ndarray) -> None:
    from PIL import Image

    pack = packs["scrfd_500m"]
    faces = pack.detect(t1)
    small = np.asarray(Image.fromarray(t1).resize((t1.shape[1] * 2 // 3, t1.shape[0] * 2 // 3), Image.BILINEAR))
    small_faces = pack.detect(small)
    a, b = pack.embed(t1, faces), pack.embed(small, small_faces)
    assert a.shape == (6, 128) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    # Pair each face with its counterpart by position; identity must follow.
    centre = lambda f: np.array([(f.bbox[0] + f.bbox[2]) / 2, (f.bbox[1] + f.bbox[3]) / 2])  # noqa: E731
    for i, face in enumerate(faces):
        j = int(np.argmin([np.linalg.norm(centre(face) * 2 / 3 - centre(g)) for g in small_faces]))
        similarity = b @ a[i]
        assert int(np.argmax(similarity)) == j and similarity[j] > 0.6, similarity


def test_engine_runs_an_onnx_pack_end_to_end(data_file: DataFile) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        engine = faceindex.FaceEngine(detector=data_file(DETECTORS["scrfd_500m"]), recognizer=data_file(RECOGNIZER),
                                      det_size=(640, 640), det_threshold=0.5)
    faces = engine.analyze(data_file(T1))
    assert len(faces) == 6 and all(f.embedding is not None for f in faces)
    same = engine.compare(faces[0], faces[0])
    assert same.same_person and same.similarity == pytest.approx(1.0, abs=1e-5)
    assert same.pack.name == "det_500m+mobilefacenet" and same.pack.version.startswith("sha256:5e4447f50245")
    assert engine.detect(np.zeros((1, 1, 3), np.uint8)) == []


def test_recognizer_batches_when_the_batch_axis_is_dynamic(tmp_path: Path, t1: np.ndarray, data_file: DataFile) -> None:
    detector = data_file(DETECTORS["scrfd_500m"])
    batched = quiet_pack(detector, pooled_recognizer(tmp_path / "dynamic.onnx", "batch"))
    looped = quiet_pack(detector, pooled_recognizer(tmp_path / "fixed.onnx", 1, mixes_batch=True))
    assert batched.recognizer.signature.batch is None and looped.recognizer.signature.batch == 1
    calls: list[int] = []
    run = batched.recognizer.session.run
    batched.recognizer.session.run = lambda feeds: calls.append(len(next(iter(feeds.values())))) or run(feeds)  # type: ignore[method-assign]
    faces = batched.detect(t1)
    together = batched.embed(t1, faces)
    assert calls == [6]  # one call for all six faces
    one_by_one = np.concatenate([batched.embed(t1, faces[i : i + 1]) for i in range(len(faces))])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_a_fixed_batch_recognizer_is_rewritten_to_batch_when_that_is_exact(
    tmp_path: Path, t1: np.ndarray, data_file: DataFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEINDEX_CACHE", str(tmp_path / "cache"))
    detector = data_file(DETECTORS["scrfd_500m"])
    fixed = pooled_recognizer(tmp_path / "fixed.onnx", 1, seed=3)
    pack = quiet_pack(detector, fixed)
    assert pack.recognizer.signature.batch is None  # the reshape (1, -1) became (0, -1)
    assert "batched" in pack.info.recognizer
    reference = open_session(fixed, "onnxruntime")  # the file as it is: one face per call
    faces = pack.detect(t1)
    chips = kernels.align_tensor(t1, np.stack([f.landmarks for f in faces]), pack.recognizer.template, 112,
                                 False, (127.5,) * 3, (127.5,) * 3)
    alone = np.concatenate([reference.run({"input": chips[i : i + 1]})[0] for i in range(len(faces))])
    alone /= np.linalg.norm(alone, axis=1, keepdims=True)
    np.testing.assert_allclose(pack.embed(t1, faces), alone, atol=1e-5)
    # A graph that mixes the samples of a batch is left as it is, and looped.
    mixing = quiet_pack(detector, pooled_recognizer(tmp_path / "mixing.onnx", 1, mixes_batch=True))
    assert mixing.recognizer.signature.batch == 1
    # A rewrite whose outputs differ from the original's is refused.
    impostor = pooled_recognizer(tmp_path / "impostor.onnx", "batch", seed=4)
    monkeypatch.setattr("faceindex.packs.onnx.pack.dynamic_batch_copy", lambda path: impostor)
    assert quiet_pack(detector, pooled_recognizer(tmp_path / "fixed2.onnx", 1, seed=5)).recognizer.signature.batch == 1


def test_detector_without_landmarks_detects_but_cannot_embed(tmp_path: Path) -> None:
    detector = constant_scrfd(tmp_path / "no_kps.onnx", 64, with_landmarks=False, hit=(8, 2, 3))
    pack = quiet_pack(detector, pooled_recognizer(tmp_path / "rec.onnx", "batch"))
    assert not pack.detector.signature.has_landmarks
    faces = pack.detect(np.zeros((128, 128, 3), np.uint8))  # canvas 64: scale 0.5
    assert len(faces) == 1
    # Anchor centre (3, 2) * 8 = (24, 16), distances 1 stride: (16, 8, 32, 24) on the canvas.
    assert faces[0].bbox == pytest.approx((32.0, 16.0, 64.0, 48.0))
    assert faces[0].score == pytest.approx(0.9)
    assert np.isnan(faces[0].landmarks).all()
    with pytest.raises(ValueError, match="no landmarks"):
        pack.embed(np.zeros((128, 128, 3), np.uint8), faces)


def test_constant_detector_landmarks_land_where_encoded(tmp_path: Path) -> None:
    detector = constant_scrfd(tmp_path / "kps.onnx", 64, with_landmarks=True, hit=(16, 1, 2))
    pack = quiet_pack(detector, pooled_recognizer(tmp_path / "rec.onnx", "batch"))
    (face,) = pack.detect(np.zeros((32, 64, 3), np.uint8))  # scale 1: content 64x32, padded below
    centre = np.array([2 * 16, 1 * 16], dtype=np.float32)
    np.testing.assert_allclose(face.landmarks, centre + 16 * np.arange(5, dtype=np.float32)[:, None], atol=1e-4)


def test_five_stride_scrfd_decodes_its_coarsest_levels(tmp_path: Path) -> None:
    strides = (8, 16, 32, 64, 128)
    detector = constant_scrfd(tmp_path / "five.onnx", 128, with_landmarks=True, hit=(64, 1, 0), strides=strides)
    pack = quiet_pack(detector, pooled_recognizer(tmp_path / "rec.onnx", "batch"))
    assert pack.detector.signature.strides == strides and pack.detector.signature.anchors == 1
    (face,) = pack.detect(np.zeros((128, 128, 3), np.uint8))
    assert face.bbox == pytest.approx((-64.0, 0.0, 64.0, 128.0))  # centre (0, 64), one stride each way


# --- input sizes ---------------------------------------------------------------


def test_det_size_rules(data_file: DataFile, tmp_path: Path) -> None:
    rec = data_file(RECOGNIZER)
    with pytest.raises(ValueError, match="fixed 640x640"):
        quiet_pack(data_file(DETECTORS["retinaface"]), rec, det_size=(320, 320))
    with pytest.raises(ValueError, match="multiples of 32"):
        quiet_pack(data_file(DETECTORS["scrfd_500m"]), rec, det_size=(100, 100))
    with pytest.raises(ValueError, match="det_threshold"):
        quiet_pack(data_file(DETECTORS["scrfd_500m"]), rec, det_threshold=1.5)
    pack = quiet_pack(data_file(DETECTORS["scrfd_2.5g"]), rec, det_size=(320, 256))
    assert pack.detector.canvas == (320, 256)
    assert len(pack.detect(faceindex.load_image(data_file(T1)))) >= 4


# --- files, hashes and pack folders ------------------------------------------


def test_known_official_file_loads_without_a_warning(data_file: DataFile) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pack = quiet_pack(data_file(DETECTORS["scrfd_500m"]), data_file(RECOGNIZER))
        with warnings.catch_warnings():
            warnings.simplefilter("error", UnverifiedModelWarning)
            from faceindex.packs.onnx.known_models import identify

            identity = identify(data_file(DETECTORS["scrfd_500m"]))
    assert identity.known is not None and "buffalo_s" in identity.known.packs
    assert "non-commercial" in pack.info.license
    assert not [w for w in caught if issubclass(w.category, UnverifiedModelWarning)]


def test_unknown_file_is_accepted_with_a_warning(data_file: DataFile) -> None:
    # SCRFD-500m's 640x640 release file is no file faceindex lists (YuNet's 2026 file is now: the
    # default pack ships it).
    with pytest.warns(UnverifiedModelWarning, match="unverified"):
        OnnxPack.from_files(data_file(DETECTORS["scrfd_500m_bnkps"]), data_file(RECOGNIZER))


def test_known_name_with_the_wrong_content_is_refused(tmp_path: Path, data_file: DataFile) -> None:
    corrupt = bytearray(data_file(DETECTORS["scrfd_500m"]).read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF  # one flipped byte, as a bad download has
    impostor = tmp_path / "det_500m.onnx"
    impostor.write_bytes(bytes(corrupt))
    with pytest.raises(ModelHashError, match="official det_500m.onnx.*expected 5e4447f5"):
        quiet_pack(impostor, data_file(RECOGNIZER))
    # A known file under another name is still that known file.
    renamed = tmp_path / "my_detector.onnx"
    shutil.copy(data_file(DETECTORS["scrfd_2.5g"]), renamed)
    from faceindex.packs.onnx.known_models import identify

    identity = identify(renamed)
    assert identity.known is not None and identity.known.packs == ("buffalo_m",)


def test_bad_model_files_raise_clear_errors(tmp_path: Path, data_file: DataFile) -> None:
    rec = data_file(RECOGNIZER)
    with pytest.raises(FileNotFoundError):
        quiet_pack(tmp_path / "nowhere.onnx", rec)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        quiet_pack(tmp_path / "empty.onnx", rec)
    (tmp_path / "junk.onnx").write_bytes(b"this is not a model" * 100)
    with pytest.raises(ModelFileError, match="cannot be loaded"):
        quiet_pack(tmp_path / "junk.onnx", rec)
    with pytest.raises(ModelFileError):
        quiet_pack(data_file("models/mtcnn/pnet.pt"), rec)
    with pytest.raises(UnknownModelError, match="no landmarks|without landmarks"):
        quiet_pack(data_file("models/ultraface/version-RFB-320-opt.onnx"), rec)
    with pytest.raises(UnknownModelError, match="one input"):
        quiet_pack(two_input_model(tmp_path / "two.onnx"), rec)
    with pytest.raises(UnknownModelError, match="is a recognizer"):
        quiet_pack(rec, rec)
    with pytest.raises(UnknownModelError, match="is a detector"):
        quiet_pack(data_file(DETECTORS["yunet"]), data_file(DETECTORS["scrfd_500m"]))


@pytest.fixture
def models_root(tmp_path: Path, data_file: DataFile, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A models directory with one insightface-style pack folder, plus a model of no family."""
    root = tmp_path / "models"
    pack = root / "buffalo_test"
    pack.mkdir(parents=True)
    shutil.copy(data_file(DETECTORS["scrfd_500m"]), pack / "det_500m.onnx")
    shutil.copy(data_file(RECOGNIZER), pack / "mobilefacenet.onnx")
    two_input_model(pack / "genderage_like.onnx")
    monkeypatch.delenv("FACEINDEX_MODELS", raising=False)
    yield root


def test_pack_folder_found_by_signature(models_root: Path, data_file: DataFile) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        engine = faceindex.FaceEngine(pack="buffalo_test", models_dir=models_root)
    assert engine.pack.name == "buffalo_test" and engine.pack.embedding_size == 128
    assert len(engine.detect(data_file(T1))) == 6


def test_models_directory_precedence(models_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models_dir() == (tmp_path / "home" / ".cache" / "faceindex" / "models", "default")
    monkeypatch.setenv("FACEINDEX_MODELS", str(models_root))
    assert models_dir() == (models_root, "$FACEINDEX_MODELS")
    assert models_dir(tmp_path / "explicit") == (tmp_path / "explicit", "models_dir=")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        assert OnnxPack.from_folder("buffalo_test").info.name == "buffalo_test"  # through the variable
    with pytest.raises(PackNotFoundError, match="chosen by models_dir="):
        OnnxPack.from_folder("buffalo_test", models_dir=tmp_path / "explicit")


def test_pack_folder_errors(models_root: Path, data_file: DataFile) -> None:
    with pytest.raises(PackNotFoundError, match="Packs there: buffalo_test"):
        OnnxPack.from_folder("buffalo_x", models_dir=models_root)
    with pytest.raises(ValueError, match="folder name"):
        OnnxPack.from_folder("../buffalo_test", models_dir=models_root)
    shutil.copy(data_file(DETECTORS["yunet"]), models_root / "buffalo_test" / "yunet.onnx")
    with pytest.raises(PackNotFoundError, match="2 candidate detectors.*pack.json"):
        OnnxPack.from_folder("buffalo_test", models_dir=models_root)


def test_pack_manifest_names_the_models_and_options(models_root: Path, data_file: DataFile) -> None:
    folder = models_root / "buffalo_test"
    shutil.copy(data_file(DETECTORS["yunet"]), folder / "yunet.onnx")
    (folder / "pack.json").write_text(
        '{"detector": "yunet.onnx", "recognizer": "mobilefacenet.onnx", "det_size": [320, 320], '
        '"det_threshold": 0.6, "version": "7"}'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedModelWarning)
        pack = OnnxPack.from_folder("buffalo_test", models_dir=models_root)
        assert pack.detector.family.name == "yunet" and pack.detector.canvas == (320, 320)
        assert pack.detector.score_threshold == 0.6 and pack.info.version == "7"
        overridden = OnnxPack.from_folder("buffalo_test", models_dir=models_root, det_size=(640, 640))
        assert overridden.detector.canvas == (640, 640)
    (folder / "pack.json").write_text('{"detector": "yunet.onnx", "recogniser": "mobilefacenet.onnx"}')
    with pytest.raises(ModelFileError, match="unknown keys"):
        OnnxPack.from_folder("buffalo_test", models_dir=models_root)
    (folder / "pack.json").write_text('{"detector": "gone.onnx", "recognizer": "mobilefacenet.onnx"}')
    with pytest.raises(PackNotFoundError, match="gone.onnx"):
        OnnxPack.from_folder("buffalo_test", models_dir=models_root)


# --- thresholds ----------------------------------------------------------------


def test_threshold_sources_are_stated(packs: dict[str, OnnxPack], tmp_path: Path, data_file: DataFile) -> None:
    measured = packs["scrfd_500m"].info
    assert "LFW" in measured.threshold_source and "FMR" in measured.threshold_source
    assert "FNMR" in measured.threshold_source and 0.0 < measured.default_threshold < 1.0
    unmeasured = quiet_pack(data_file(DETECTORS["scrfd_500m"]), pooled_recognizer(tmp_path / "r.onnx", 1)).info
    assert unmeasured.threshold_source.startswith("NOT MEASURED")


# --- scale: the engine handles it, for every family -------------------------------


def lfw_crops(data_file: DataFile, count: int) -> list[Path]:
    """Every so many LFW photos: 350x350 headshots whose face fills most of the frame."""
    pairs = data_file("lfw/pairs_dev.txt")
    photos = sorted((pairs.parent / "images").glob("*/*.jpg"))
    assert len(photos) > 4000
    return photos[:: len(photos) // count][:count]


@pytest.mark.parametrize("name", list(DETECTORS))
def test_the_defaults_find_faces_that_fill_a_tight_crop(name: str, packs: dict[str, OnnxPack],
                                                        data_file: DataFile) -> None:
    pack = packs[name]
    crops = [faceindex.load_image(p) for p in lfw_crops(data_file, 24)]
    found = [len(pack.detect(c)) > 0 for c in crops]
    assert sum(found) >= 23, f"{name}: faces found in {sum(found)} of {len(crops)} LFW crops"
    # Enlarged to det_size alone, SCRFD finds almost none: the second, coarser look is what finds them.
    if name == "scrfd_500m":
        first_look = [len(pack.detector.detect_at(c, pack.detector.canvas)) > 0 for c in crops]
        assert sum(first_look) <= len(crops) // 4, sum(first_look)


def test_the_second_look_only_runs_when_the_first_finds_nothing(packs: dict[str, OnnxPack], t1: np.ndarray,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    detector = packs["scrfd_500m"].detector
    fits: list[tuple[int, int]] = []
    original = detector.detect_at
    monkeypatch.setattr(detector, "detect_at", lambda image, fit: fits.append(fit) or original(image, fit))
    assert len(detector.detect(t1)) == 6 and fits == [detector.canvas]
    fits.clear()
    assert len(detector.detect(np.zeros((200, 300, 3), np.uint8))) == 0
    assert fits == [detector.canvas, (detector.canvas[0] // 2, detector.canvas[1] // 2)]
