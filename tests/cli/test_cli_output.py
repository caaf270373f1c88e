"""What a person reads from `faceindex`, on real photos and the dlib pack: the decision words,
the similarity, the threshold and how it was chosen (given, asked for, the default and its
floor), near misses, plurals, one-line warnings, errors in the command's own terms.

One home is built through the CLI for the module (collection create + index of the shared
portraits); every command reads or changes it in the order a newcomer would.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from faceindex import thresholds
from faceindex.cli import main
from faceindex.engine import FaceEngine
from faceindex.types import PackInfo

PORTRAITS = "images/face_recognition"
OBAMA_240, OBAMA_480 = f"{PORTRAITS}/obama-240p.jpg", f"{PORTRAITS}/obama-480p.jpg"
LIN, ALEX, TWO = f"{PORTRAITS}/lin-manuel-miranda.png", f"{PORTRAITS}/alex-lacamoire.png", f"{PORTRAITS}/two_people.jpg"
STRANGER = "images/openface/images/examples/clapton-2.jpg"  # nobody in the collection
YUNET, MOBILEFACENET = "models/yunet/face_detection_yunet_2026may.onnx", "models/mobilefacenet/mobilefacenet.onnx"
SCRFD = "models/scrfd/det_500m.onnx"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def similarity_and_threshold(line: str) -> tuple[float, float]:
    found = re.fullmatch(r"(?:same person|different people): similarity (\d\.\d{4}), (?:at or above|below) the "
                         r"threshold (\d\.\d{4})", line)
    assert found, line
    return float(found.group(1)), float(found.group(2))


@dataclass
class Staff:
    home: str
    pack: PackInfo
    created: str
    indexed: str


@pytest.fixture(scope="module")
def dlib_pack() -> PackInfo:
    return FaceEngine("dlib").pack


@pytest.fixture(scope="module")
def staff(tmp_path_factory: pytest.TempPathFactory, data_file: Callable[[str], Path], dlib_pack: PackInfo) -> Staff:
    """Collection "staff": Obama (480p), Lin-Manuel Miranda, Alex Lacamoire and the two people
    of two_people.jpg, indexed by file name, through the CLI."""
    home = str(tmp_path_factory.mktemp("cli-output-home"))
    code, created, err = run("collection", "create", "staff", "--home", home)
    assert code == 0, err
    code, indexed, err = run("index", "staff", *(str(data_file(p)) for p in (OBAMA_480, LIN, ALEX, TWO)),
                             "--home", home)
    assert code == 0, err
    return Staff(home, dlib_pack, created, indexed)


# -- compare -------------------------------------------------------------------------------


def test_compare_says_same_person_for_one_man_and_different_people_for_two(
        data_file: Callable[[str], Path], dlib_pack: PackInfo) -> None:
    """The README's own example crashed here (gallery_size=None in the threshold line)."""
    default = thresholds.for_comparison(dlib_pack)
    code, out, err = run("compare", str(data_file(OBAMA_240)), str(data_file(OBAMA_480)))
    assert code == 0 and err == "", err
    decision, threshold = out.splitlines()
    similarity, judged_at = similarity_and_threshold(decision)
    assert decision.startswith("same person: ") and similarity >= judged_at == round(default.value, 4)
    assert threshold.startswith(f"threshold {default.value:.4f} (default: FMR at most 0.0001 per comparison; "
                                "estimated FMR ") and threshold.endswith("; pack dlib 1.1)")

    code, out, err = run("compare", str(data_file(OBAMA_240)), str(data_file(ALEX)))
    assert code == 0 and err == "", err
    decision, _ = out.splitlines()
    similarity, judged_at = similarity_and_threshold(decision)
    assert decision.startswith("different people: ") and similarity < judged_at


@pytest.mark.parametrize("option, how", [
    (["--max-fmr", "1e-6"], "FMR at most 1e-06 per comparison; estimated FMR "),  # crashed as the README's did
    (["--max-fmr", "1e-3"], "FMR at most 0.001 per comparison; estimated FMR "),
    (["--threshold", "0.5"], "given; estimated FMR 1 ["),  # every impostor pair of the table scores above 0.5
])
def test_compare_threshold_line_for_each_option(option: list[str], how: str, data_file: Callable[[str], Path],
                                                dlib_pack: PackInfo) -> None:
    value = float(option[1])
    expected = (thresholds.for_comparison(dlib_pack, threshold=value) if option[0] == "--threshold"
                else thresholds.for_comparison(dlib_pack, max_fmr=value))
    code, out, err = run("compare", str(data_file(OBAMA_240)), str(data_file(OBAMA_480)), *option)
    assert code == 0 and err == "", err
    decision, threshold = out.splitlines()
    assert decision.startswith("same person: ") and similarity_and_threshold(decision)[1] == round(expected.value, 4)
    assert threshold.startswith(f"threshold {expected.value:.4f} ({how}"), threshold
    assert "looser than the default" not in threshold  # these rates are no stricter than the default's


def test_an_uncalibrated_pack_says_so_and_refuses_a_rate_in_cli_terms(data_file: Callable[[str], Path]) -> None:
    """YuNet's 2026 file is no file faceindex lists: its pack is uncalibrated, and loading it
    warns, in one line on stderr (no source code), once."""
    pack = ["--detector", str(data_file(YUNET)), "--recognizer", str(data_file(MOBILEFACENET))]
    warned = f"faceindex: warning: {data_file(YUNET)} (sha256 "
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as outside pytest, which turns warnings into errors
        code, out, err = run("compare", str(data_file(OBAMA_240)), str(data_file(OBAMA_480)), *pack)
        assert code == 0, err
        (line,) = err.splitlines()
        assert line.startswith(warned) and line.endswith("is not one of the model files faceindex knows; it is "
                                                         "loaded unverified")
        decision, threshold = out.splitlines()
        assert decision.startswith("same person: ")
        assert re.fullmatch(r"threshold \d\.\d{4} \(the pack's uncalibrated default; error rates not measured for "
                            r"this pack: faceindex calibrate measures them on your own photos; pack "
                            r"face_detection_yunet_2026may\+mobilefacenet sha256:\w{12}\+\w{12}\)", threshold), threshold
        code, out, err = run("compare", str(data_file(OBAMA_240)), str(data_file(OBAMA_480)), *pack,
                             "--max-fmr", "1e-3")
    assert code == 4 and out == ""
    warning, error = err.splitlines()
    assert warning.startswith(warned)
    assert error.startswith("faceindex: error: --max-fmr needs a calibration table") and \
        error.endswith("give --threshold instead")


def test_a_model_file_faceindex_measured_loads_without_a_warning(data_file: Callable[[str], Path]) -> None:
    """MobileFaceNet is listed in models/onnx_models.json with faceindex's measurements (pytest
    turns any warning into an error here)."""
    code, out, err = run("detect", str(data_file(OBAMA_240)), "--detector", str(data_file(SCRFD)),
                         "--recognizer", str(data_file(MOBILEFACENET)))
    assert (code, out.splitlines()[0], err) == (0, "1 face", "")


def test_a_missing_pack_names_the_option_to_give(tmp_path: Path, data_file: Callable[[str], Path]) -> None:
    code, out, err = run("detect", str(data_file(OBAMA_240)), "--pack", "buffalo_s", "--models-dir", str(tmp_path))
    assert code == 3 and out == ""
    assert f"no pack folder 'buffalo_s' in the models directory {tmp_path} (chosen by --models-dir; set " \
           "--models-dir or $FACEINDEX_MODELS" in err
    code, _, err = run("detect", str(data_file(OBAMA_240)), "--detector", str(data_file(SCRFD)))
    assert (code, err) == (4, "faceindex: error: give both --detector and --recognizer model paths, or neither\n")


def test_detect_counts_faces_in_words(data_file: Callable[[str], Path]) -> None:
    code, out, _ = run("detect", str(data_file(TWO)))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "2 faces" and len(lines) == 3
    assert all(re.fullmatch(r"  \(\d+, \d+, \d+, \d+\) score \d\.\d{3} size \d+px sharpness [\d.]+ brightness "
                            r"\d\.\d\d", line) for line in lines[1:]), lines


def test_upsample_finds_faces_on_the_dlib_pack_only(data_file: Callable[[str], Path]) -> None:
    code, out, _ = run("detect", str(data_file(OBAMA_240)), "--upsample", "1")
    assert code == 0 and out.splitlines()[0] == "1 face"
    box = [int(v) for v in re.findall(r"\d+", out.splitlines()[1].split(" score")[0])]
    assert box[2] <= 427 and box[3] <= 240  # in the photo's own pixels, not the doubled image's
    code, out, err = run("detect", str(data_file(OBAMA_240)), "--upsample", "1", "--detector", str(data_file(SCRFD)),
                         "--recognizer", str(data_file(MOBILEFACENET)))
    assert (code, out) == (2, "") and err.startswith("faceindex: error: --upsample is for the dlib pack")


def test_an_unreadable_image_is_named_without_python_reprs(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"this is text, not a JPEG" * 10)
    code, out, err = run("detect", str(fake))
    assert code == 4 and out == ""
    assert err == (f"faceindex: error: cannot decode {fake}: not an image format faceindex reads (JPEG, PNG, "
                   "WebP, GIF, BMP, TIFF and the others Pillow opens)\n")
    code, out, err = run("detect", str(fake), "--json")
    assert "<_io" not in out + err and "object at 0x" not in out + err


# -- collections, index, search ----------------------------------------------------------------


def test_collection_create_and_index_lines(staff: Staff, data_file: Callable[[str], Path]) -> None:
    assert staff.created == f"created collection staff (pack dlib 1.1) at {Path(staff.home) / 'collections' / 'staff'}\n"
    assert staff.indexed.splitlines() == [
        f"{data_file(OBAMA_480)}: 1 face indexed", f"{data_file(LIN)}: 1 face indexed",
        f"{data_file(ALEX)}: 1 face indexed", f"{data_file(TWO)}: 2 faces indexed",
        "4 files, 5 faces indexed, 0 not indexed, 0 files failed"]


def test_index_names_a_broken_file_and_exits_1(staff: Staff, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, out, _ = run("index", "staff", str(broken), "--home", staff.home)
    assert code == 1
    assert out.splitlines() == [
        f"{broken}: FAILED: cannot decode {broken}: corrupt or truncated image (Truncated File Read)",
        "1 file, 0 faces indexed, 0 not indexed, 1 file failed"], out


def test_collection_describe_shows_the_thresholds_in_force(staff: Staff) -> None:
    compare = thresholds.for_comparison(staff.pack)
    search = thresholds.for_search(staff.pack, 5)
    code, out, _ = run("collection", "describe", "staff", "--home", staff.home)
    assert code == 0
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["pack"] == "dlib 1.1 (128-d)" and lines["faces"] == "5" and lines["users"] == "0"
    assert lines["compare"].startswith(f"threshold {compare.value:.4f} (default: FMR at most 0.0001 per comparison; "
                                       "estimated FMR ")
    # Five faces: FPIR 1% would allow FMR 2e-3 per comparison; the default holds FMR 1e-4.
    assert lines["search"].startswith(f"threshold {search.value:.4f} (default: FMR at most 0.0001 per comparison, "
                                      "the floor of small collections, where FPIR 0.01 at 5 faces would be looser; "
                                      "estimated FMR ")
    assert f"{staff.pack.default_threshold:.3f}" not in out  # the pack's placeholder is not in force
    described = json.loads(run("collection", "describe", "staff", "--home", staff.home, "--json")[1])
    assert described["search_threshold"]["value"] == search.value and described["search_threshold"]["gallery_size"] == 5
    assert run("collection", "list", "--home", staff.home)[1] == "staff\n"


def search_lines(staff: Staff, image: str, *options: str) -> list[str]:
    code, out, err = run("search", "staff", image, "--home", staff.home, *options)
    assert code == 0 and err == "", err
    return out.splitlines()


def test_search_default_and_each_option(staff: Staff, data_file: Callable[[str], Path]) -> None:
    obama = str(data_file(OBAMA_240))
    default = thresholds.for_search(staff.pack, 5)
    first, *matches = search_lines(staff, obama)
    assert re.fullmatch(rf"searched face \(\d+, \d+, \d+, \d+\), threshold {default.value:.4f} \(default: FMR at "
                        r"most 0.0001 per comparison, the floor of small collections, where FPIR 0.01 at 5 faces "
                        r"would be looser; estimated FMR .*, FPIR .*; pack dlib 1.1\)", first), first
    assert [m.split()[2] for m in matches] == ["obama-480p.jpg", "two_people.jpg"]  # Obama, alone and beside Biden
    assert all(float(m.split()[0]) >= default.value for m in matches)

    # A stricter FPIR than the default's 1% at five faces gives a looser threshold than the
    # default's floor, and the line says so.
    fpir = thresholds.for_search(staff.pack, 5, max_fpir=0.001)
    assert fpir.value < default.value
    first, *_ = search_lines(staff, obama, "--max-fpir", "0.001")
    assert f"threshold {fpir.value:.4f} (FPIR at most 0.001 at 5 faces; looser than the default threshold " \
           f"{default.value:.4f}, which holds FMR at most 0.0001 per comparison; estimated FMR " in first, first

    fmr = thresholds.for_search(staff.pack, 5, max_fmr=1e-5)
    first, *_ = search_lines(staff, obama, "--max-fmr", "1e-5")
    assert f"threshold {fmr.value:.4f} (FMR at most 1e-05 per comparison; estimated FMR " in first
    assert "looser" not in first
    first, miss = search_lines(staff, obama, "--threshold", "0.999")
    assert "threshold 0.9990 (given; estimated FMR " in first
    found = re.fullmatch(r"  no match \(best: obama-480p.jpg (\d\.\d{3}), below 0.9990\)", miss)  # a near miss
    assert found and float(found.group(1)) == float(matches[0].split()[0]), miss


def test_search_for_a_stranger_shows_the_near_miss(staff: Staff, data_file: Callable[[str], Path]) -> None:
    first, miss = search_lines(staff, str(data_file(STRANGER)))
    found = re.fullmatch(r"  no match \(best: (\S+) (\d\.\d{3}), below (\d\.\d{4})\)", miss)
    assert found, miss
    assert found.group(1) in {"obama-480p.jpg", "lin-manuel-miranda.png", "alex-lacamoire.png", "two_people.jpg"}
    assert float(found.group(2)) < float(found.group(3)) == round(thresholds.for_search(staff.pack, 5).value, 4)


# -- faces, users, audit ---------------------------------------------------------------------------


def face_ids(staff: Staff, external_id: str) -> list[str]:
    page = json.loads(run("faces", "list", "staff", "--home", staff.home, "--external-image-id", external_id,
                          "--json")[1])
    return [f["face_id"] for f in page["faces"]]


def test_faces_list_and_delete(staff: Staff, data_file: Callable[[str], Path]) -> None:
    code, out, _ = run("faces", "list", "staff", "--home", staff.home)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5
    assert all(re.fullmatch(r"[0-9a-f-]{36}  \S+\.(jpg|png)  \(\d+, \d+, \d+, \d+\)  confidence \d\.\d{3}", line)
               for line in lines), lines
    code, out, _ = run("faces", "list", "staff", "--home", staff.home, "--max-results", "2")
    assert out.splitlines()[-1].startswith("more: --next-token ")
    victim = face_ids(staff, "alex-lacamoire.png")[0]
    code, out, _ = run("faces", "delete", "staff", victim, "ghost", "--home", staff.home)
    assert code == 1 and out.splitlines() == [f"deleted {victim}", "not deleted ghost: FACE_NOT_FOUND"]
    # Back to five faces for the other tests.
    assert run("index", "staff", str(data_file(ALEX)), "--home", staff.home)[0] == 0


def test_users_in_words(staff: Staff, data_file: Callable[[str], Path]) -> None:
    h = ["--home", staff.home]
    obama, lin = face_ids(staff, "obama-480p.jpg")[0], face_ids(staff, "lin-manuel-miranda.png")[0]
    assert run("users", "create", "staff", "barack", *h)[1] == "created user barack\n"
    code, out, _ = run("users", "associate", "staff", "barack", obama, *h)
    compare = thresholds.for_comparison(staff.pack)
    assert code == 0 and out.splitlines() == [
        f"associated {obama}",
        "a face joins a user who has faces when it reaches this against one of them: threshold "
        f"{compare.value:.4f} (default: FMR at most 0.0001 per comparison; estimated FMR {compare.fmr}; pack dlib 1.1)"]
    code, out, _ = run("users", "associate", "staff", "barack", lin, *h, "--purpose", "door")
    refused = out.splitlines()[0]
    found = re.fullmatch(rf"not associated {lin}: LOW_MATCH_CONFIDENCE \(similarity (\d\.\d{{3}}) to the user's "
                         rf"faces, below {compare.value:.4f}\)", refused)
    assert code == 1 and found, out
    assert run("users", "list", "staff", *h)[1] == "barack  1 face\n"

    code, out, _ = run("users", "search", "staff", "--image", str(data_file(OBAMA_240)), *h)
    threshold, match = out.splitlines()
    assert threshold.startswith(f"threshold {thresholds.for_search(staff.pack, 5).value:.4f} (default: ")
    assert re.fullmatch(rf"  \d\.\d{{3}}  barack  \(face {obama}\)", match), match
    code, out, _ = run("users", "search", "staff", "--image", str(data_file(ALEX)), *h)
    assert out.splitlines()[1] == "  no match"

    code, out, _ = run("audit", "staff", *h)
    entries = out.splitlines()
    association = [e for e in entries if "associate_faces" in e]
    assert len(association) == 1 and 'purpose "door"' in association[0] and "0 candidates" in association[0]
    assert f"threshold {compare.value:.4f} (FMR at most 0.0001 per comparison)" in association[0]
    searches = [e for e in entries if "search_faces_by_image" in e]
    assert searches and "threshold 0.9990 (given)" in "\n".join(searches)
    assert any("(FPIR at most 0.001 at 5 faces)" in e for e in searches)
    assert all(re.search(r"  \d+ candidates?( |$)", e) for e in entries)
    assert "search_users_by_image" in out

    assert run("users", "disassociate", "staff", "barack", obama, *h)[1] == f"disassociated {obama}\n"
    assert run("users", "delete", "staff", "barack", *h)[1] == "deleted user barack: 0 faces erased, 0 kept\n"


def test_audit_help_says_what_is_logged(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("audit", "--help")[0] == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "every search of it, and every face associated with a user who has faces (a 1:1 decision); " \
           "`faceindex compare` uses no collection and is not logged" in text


def test_collection_delete_in_words(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert run("collection", "create", "gone", "--home", home)[0] == 0
    assert run("collection", "delete", "gone", "--home", home)[1] == "deleted collection gone\n"
    assert run("collection", "list", "--home", home)[1] == "(no collections)\n"


def test_serve_start_lines(tmp_path: Path) -> None:
    """What `faceindex serve` says when it starts: its workers, where the collections are, the
    warning without authentication, the address it listens on."""
    pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    from service_helpers import start_server

    server = start_server(tmp_path / "home", workers=1, queue_size=4, extra_args=["--no-auth"])
    try:
        lines = [line for line in server.log().splitlines() if line.startswith("faceindex serve: ")]
    finally:
        assert server.stop() == 0
    warning, workers, outputs, listening = lines
    assert warning == ("faceindex serve: WARNING: authentication is OFF (--no-auth): any local process may call "
                       "this endpoint")
    found = re.fullmatch(r"faceindex serve: 1 worker thread of (\d+) core threads? each, up to 4 requests waiting; "
                         r"collections in (.+)", workers)
    assert found and found.group(2) == str(tmp_path / "home" / "collections"), workers
    assert workers.count("core threads") == (found.group(1) != "1")
    assert outputs == ("faceindex serve: no SNS (NotificationChannel refused); no Kinesis (stream processors "
                       "refused); 0 stream sources, 0 stream processors")
    assert listening == f"faceindex serve: listening on {server.endpoint_url}"
