"""The result lines a person reads from `faceindex search`, `users` and `collection describe`, on a
collection whose faces are placed at known similarities (stored embeddings of the dlib pack: its
shipped calibration table gives the thresholds, and no model runs): each match with its similarity,
best first, the near miss, the threshold and how it was chosen, the error rates, plurals."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from faceindex import Collections, PackInfo, thresholds
from faceindex.cli import main
from faceindex.errors import EXIT_OK, EXIT_PARTIAL
from collection_helpers import near, unit_vectors

DLIB = PackInfo(name="dlib", version="1.1", embedding_size=128, default_threshold=0.6, threshold_source="-",
                detector="-", recognizer="-", license="-")  # its table: models/calibration/dlib_1.1.json
NEVER_CALIBRATED = PackInfo(name="never-measured", version="1", embedding_size=128, default_threshold=0.42,
                            threshold_source="-", detector="-", recognizer="-", license="-")


def run(*argv: str) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    assert err.getvalue() == "", err.getvalue()
    return code, out.getvalue().splitlines()


@dataclass
class Home:
    path: str
    probe: str  # the face searched with
    ids: dict[str, str]  # external image id -> face id


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """Collection "c": a probe face, and faces at cosine 0.99 ("twin"), 0.97 ("brother", no external
    id), 0.5 ("stranger") to it, and 20 faces of nobody (random: near 0)."""
    probe = unit_vectors(1, 1)[0]
    with Collections(tmp_path).create_collection("c", DLIB) as c:
        vectors = [probe, near(probe, 0.99, seed=2), near(probe, 0.97, seed=3), near(probe, 0.5, seed=4)]
        names = ["probe", "twin", None, "stranger"]
        records = c.index_embeddings(np.array(vectors), pack=DLIB, external_image_id=names)  # type: ignore[arg-type]
        c.index_embeddings(unit_vectors(20, 5), pack=DLIB)
    ids = {name or "brother": r.face_id for name, r in zip(names, records)}
    return Home(str(tmp_path), ids["probe"], ids)


def test_search_lines_show_each_match_with_its_similarity_best_first(home: Home) -> None:
    default = thresholds.for_search(DLIB, 24)
    assert 0.5 < default.value < 0.97  # the twin and the brother match, the stranger does not
    code, lines = run("search", "c", home.probe, "--face-id", "--home", home.path)
    assert code == EXIT_OK
    assert re.fullmatch(rf"threshold {default.value:.4f} \(default: FMR at most 0.0001 per comparison, the floor of "
                        r"small collections, where FPIR 0.01 at 24 faces would be looser; estimated FMR \S+ \[\S+, "
                        r"\S+\], FPIR \S+ \[\S+, \S+\]; pack dlib 1.1\)", lines[0]), lines[0]
    assert f"estimated FMR {default.fmr}, FPIR {default.fpir};" in lines[0]
    assert lines[1:] == [f"  0.990  {home.ids['twin']}  twin", f"  0.970  {home.ids['brother']}  -"]


def test_a_near_miss_names_the_best_face_below_the_threshold(home: Home) -> None:
    code, lines = run("search", "c", home.probe, "--face-id", "--home", home.path, "--threshold", "0.995")
    assert lines == ["threshold 0.9950 (given; estimated FMR "
                     f"{thresholds.for_search(DLIB, 24, threshold=0.995).fmr}, FPIR "
                     f"{thresholds.for_search(DLIB, 24, threshold=0.995).fpir}; pack dlib 1.1)",
                     "  no match (best: twin 0.990, below 0.9950)"]


def test_a_rate_asked_for_says_so_and_when_it_is_looser_than_the_default(home: Home) -> None:
    default = thresholds.for_search(DLIB, 24)
    fpir = thresholds.for_search(DLIB, 24, max_fpir=0.005)
    assert fpir.value < default.value  # FPIR 0.5% at 24 faces allows more than FMR 1e-4 per comparison
    _, lines = run("search", "c", home.probe, "--face-id", "--home", home.path, "--max-fpir", "0.005")
    assert lines[0].startswith(f"threshold {fpir.value:.4f} (FPIR at most 0.005 at 24 faces; looser than the default "
                               f"threshold {default.value:.4f}, which holds FMR at most 0.0001 per comparison; "
                               "estimated FMR "), lines[0]
    strict = thresholds.for_search(DLIB, 24, max_fmr=1e-5)
    _, lines = run("search", "c", home.probe, "--face-id", "--home", home.path, "--max-fmr", "1e-5")
    assert lines[0].startswith(f"threshold {strict.value:.4f} (FMR at most 1e-05 per comparison; estimated FMR ")
    loose = thresholds.for_search(DLIB, 24, max_fmr=1e-2)  # looser than the default, but as asked: not remarked
    assert 0.5 < loose.value < default.value
    _, lines = run("search", "c", home.probe, "--face-id", "--home", home.path, "--max-fmr", "0.01")
    assert lines[0].startswith(f"threshold {loose.value:.4f} (FMR at most 0.01 per comparison; estimated FMR ")
    assert lines[1:] == [f"  0.990  {home.ids['twin']}  twin", f"  0.970  {home.ids['brother']}  -"]


def test_on_a_large_collection_the_default_holds_the_fpir(tmp_path: Path) -> None:
    """Past 100 faces FPIR 1% is stricter than FMR 1e-4 per comparison: the default says it holds the
    FPIR, and a per-comparison FMR of 1e-4 asked for is looser than it."""
    with Collections(tmp_path).create_collection("big", DLIB) as c:
        records = c.index_embeddings(unit_vectors(300, 6), pack=DLIB)
    default = thresholds.for_search(DLIB, 300)
    _, lines = run("search", "big", records[0].face_id, "--face-id", "--home", str(tmp_path))
    assert lines[0].startswith(f"threshold {default.value:.4f} (default: FPIR at most 0.01 at 300 faces; "
                               "estimated FMR "), lines[0]
    asked = thresholds.for_search(DLIB, 300, max_fmr=1e-4)
    _, lines = run("search", "big", records[0].face_id, "--face-id", "--home", str(tmp_path), "--max-fmr", "1e-4")
    assert lines[0].startswith(f"threshold {asked.value:.4f} (FMR at most 0.0001 per comparison; looser than the "
                               f"default threshold {default.value:.4f}, which holds FPIR at most 0.01 at 300 faces; "
                               "estimated FMR "), lines[0]
    _, lines = run("collection", "describe", "big", "--home", str(tmp_path))
    search = [line for line in lines if line.startswith("search ")][0]
    assert search.startswith(f"search      threshold {default.value:.4f} (default: FPIR at most 0.01 at 300 faces; "
                             "estimated FMR "), search


def test_users_in_lines(home: Home) -> None:
    h = ["--home", home.path]
    compare = thresholds.for_comparison(DLIB)
    assert run("users", "create", "c", "ann", *h) == (EXIT_OK, ["created user ann"])
    assert run("users", "create", "c", "bob", *h)[0] == EXIT_OK
    assert run("users", "associate", "c", "bob", home.ids["stranger"], *h)[0] == EXIT_OK
    code, lines = run("users", "associate", "c", "ann", home.probe, *h)
    assert code == EXIT_OK and lines[0] == f"associated {home.probe}"
    code, lines = run("users", "associate", "c", "ann", home.ids["stranger"], *h)
    assert code == EXIT_PARTIAL
    assert lines[0] == f"not associated {home.ids['stranger']}: ASSOCIATED_TO_A_DIFFERENT_USER (user bob)"
    code, lines = run("users", "disassociate", "c", "bob", home.ids["stranger"], "ghost", *h)
    assert (code, lines) == (EXIT_PARTIAL, [f"disassociated {home.ids['stranger']}",
                                            "not disassociated ghost: FACE_NOT_FOUND"])
    # Ann's one face is the probe: the stranger is at 0.5 to it, the twin at 0.99.
    code, lines = run("users", "associate", "c", "ann", home.ids["stranger"], home.ids["twin"], "ghost", *h)
    assert code == EXIT_PARTIAL
    assert lines == [
        f"associated {home.ids['twin']}",
        f"not associated {home.ids['stranger']}: LOW_MATCH_CONFIDENCE (similarity 0.500 to the user's faces, "
        f"below {compare.value:.4f})",
        "not associated ghost: FACE_NOT_FOUND",
        "a face joins a user who has faces when it reaches this against one of them: threshold "
        f"{compare.value:.4f} (default: FMR at most 0.0001 per comparison; estimated FMR {compare.fmr}; pack dlib 1.1)"]
    assert run("users", "create", "c", "cyd", *h)[0] == EXIT_OK
    assert run("users", "associate", "c", "cyd", home.ids["brother"], *h)[0] == EXIT_OK
    assert run("users", "list", "c", *h)[1] == ["ann  2 faces", "bob  0 faces", "cyd  1 face"]
    # Users like the brother's face (cyd's own, left out): ann, through the probe (0.97; the twin is
    # about 0.99 x 0.97 to it).
    search = thresholds.for_search(DLIB, 24)
    code, lines = run("users", "search", "c", "--face", home.ids["brother"], *h)
    assert code == EXIT_OK and lines[1:] == [f"  0.970  ann  (face {home.probe})"]
    assert lines[0].startswith(f"threshold {search.value:.4f} (default: FMR at most 0.0001 per comparison, the "
                               "floor of small collections, where FPIR 0.01 at 24 faces would be looser; "), lines[0]
    code, lines = run("users", "search", "c", "--user", "ann", *h, "--threshold", "0.999")
    assert lines[1:] == ["  no match"] and lines[0].startswith("threshold 0.9990 (given; ")
    assert run("users", "delete", "c", "cyd", *h)[1] == ["deleted user cyd: 1 face erased, 0 kept"]
    assert run("users", "delete", "c", "ann", "--keep-faces", *h)[1] == ["deleted user ann: 0 faces erased, 2 kept"]


def test_an_uncalibrated_pack_says_its_rates_are_not_measured(tmp_path: Path) -> None:
    with Collections(tmp_path).create_collection("u", NEVER_CALIBRATED) as c:
        (record,) = c.index_embeddings(unit_vectors(1, 7), pack=NEVER_CALIBRATED)
    _, lines = run("search", "u", record.face_id, "--face-id", "--home", str(tmp_path))
    assert lines == ["threshold 0.4200 (the pack's uncalibrated default; error rates not measured for this pack: "
                     "faceindex calibrate measures them on your own photos; pack never-measured 1)", "  no match"]
    _, lines = run("collection", "describe", "u", "--home", str(tmp_path))
    described = dict(line.split(None, 1) for line in lines)
    assert described["compare"] == described["search"] == (
        "threshold 0.4200 (the pack's uncalibrated default; error rates not measured for this pack: faceindex "
        "calibrate measures them on your own photos)")
    assert described["faces"] == "1" and described["users"] == "0" and described["encrypted"] == "no"
    assert described["pack"] == "never-measured 1 (128-d)"


def test_users_in_json_and_pages_and_the_notes_of_an_association(home: Home) -> None:
    h = ["--home", home.path]
    code, lines = run("users", "create", "c", "ann", *h, "--json")
    assert code == EXIT_OK and json.loads("\n".join(lines)) == {"created": "ann"}
    assert run("users", "create", "c", "bob", *h)[0] == EXIT_OK
    # One user a page: the token the first page names gives the second, which names none.
    code, lines = run("users", "list", "c", "--max-results", "1", *h)
    assert code == EXIT_OK and lines[0] == "ann  0 faces" and lines[1].startswith("more: --next-token ")
    token = lines[1].removeprefix("more: --next-token ")
    assert run("users", "list", "c", "--max-results", "1", "--next-token", token, *h)[1] == ["bob  0 faces"]
    page = json.loads("\n".join(run("users", "list", "c", "--max-results", "1", *h, "--json")[1]))
    assert [u["user_id"] for u in page["users"]] == ["ann"] and page["next_token"] == token
    # A threshold given (0.4: the stranger at 0.5 to Ann's probe joins her), a rate asked for, the notes.
    assert run("users", "associate", "c", "ann", home.probe, *h)[0] == EXIT_OK
    code, lines = run("users", "associate", "c", "ann", home.ids["stranger"], "--threshold", "0.4", "--purpose",
                      "door 3", "--reference", "case-17", *h)
    assert code == EXIT_OK and lines[0] == f"associated {home.ids['stranger']}"
    assert lines[1].startswith("a face joins a user who has faces when it reaches this against one of them: "
                               "threshold 0.4000 (given; estimated FMR "), lines[1]
    assert run("users", "associate", "c", "bob", home.ids["twin"], *h)[0] == EXIT_OK
    code, lines = run("users", "associate", "c", "bob", home.ids["brother"], "--max-fmr", "0.5", *h)
    loose = thresholds.for_comparison(DLIB, max_fmr=0.5)
    assert code == EXIT_OK and lines[1].endswith(f"threshold {loose.value:.4f} (FMR at most 0.5 per comparison; "
                                                 f"estimated FMR {loose.fmr}; pack dlib 1.1)"), lines[1]
    with Collections(home.path).collection("c") as c:
        log = [e for e in c.audit_log() if e.operation == "associate_faces"]
    # Logged: the associations that compared a face with a user's faces (not a user's first face).
    assert [(e.purpose, e.reference) for e in log] == [("door 3", "case-17"), (None, None)]
    code, lines = run("users", "delete", "c", "ann", *h, "--json")
    deleted = json.loads("\n".join(lines))
    assert deleted["user_id"] == "ann" and sorted(deleted["deleted_faces"]) == sorted([home.probe, home.ids["stranger"]])


def test_a_description_says_shards_and_encryption_in_words(home: Home) -> None:
    from faceindex.cli.results import description_lines

    d = Collections(home.path).describe_collection("c")
    plain = dict(line.split(None, 1) for line in description_lines(d))
    assert plain["collection"] == "c" and plain["encrypted"] == "no"
    assert plain["size"] == f"database {d.database_bytes:,} B, index cache {d.cache_bytes:,} B"
    sharded = description_lines(dataclasses.replace(d, encrypted=True), shards=3)
    assert sharded[0] == "collection  c (sharded over 3 Ray actors)"
    assert sharded[-2:] == [f"size        databases {d.database_bytes:,} B, index caches {d.cache_bytes:,} B",
                            "encrypted   yes (SQLCipher database, AES-256-GCM index cache)"]
